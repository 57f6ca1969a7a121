"""
A second, independent client: recomputes docs/vectors/protocol.json from the rules of
docs/PROTOCOL.md alone (its own MessagePack writer, tagged hashes, Merkle root, proof
verifier and request-signature base), in Python with only the `cryptography` package.
Usage: python3 docs/vectors/check.py [docs/vectors/protocol.json]
Run by packages/client/test/protocol-vectors.test.ts when python3 has `cryptography`.
"""
import base64, hashlib, json, os, struct, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives import serialization

V = json.load(open(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "protocol.json")))
TAGS = {"Transaction": "medchain/tx/v1", "BlockHeader": "medchain/block-header/v1",
        "MerkleLeaf": "medchain/merkle-leaf/v1", "MerkleNode": "medchain/merkle-node/v1",
        "MerkleRoot": "medchain/merkle-root/v1", "StateLeaf": "medchain/state-leaf/v1",
        "StateNode": "medchain/state-node/v1", "StateKey": "medchain/state-key/v1",
        "ConsensusMessage": "medchain/consensus-msg/v1", "ValidatorSet": "medchain/validator-set/v1",
        "AccessRequest": "medchain/access-request/v1", "RecordId": "medchain/record-id/v1",
        "RecordContent": "medchain/record-content/v1", "AuditChain": "medchain/audit-chain/v1"}

def H(domain, *parts):
    tag = TAGS[domain].encode()
    return hashlib.sha256(bytes([len(tag)]) + tag + b"".join(parts)).digest()

class Bin(bytes):
    pass

def enc(v):
    if v is None: return b"\xc0"
    if v is True: return b"\xc3"
    if v is False: return b"\xc2"
    if isinstance(v, Bin):
        n = len(v)
        return (bytes([0xc4, n]) if n < 256 else b"\xc5" + struct.pack(">H", n) if n < 65536 else b"\xc6" + struct.pack(">I", n)) + v
    if isinstance(v, int):
        if -2**31 <= v < 2**32:
            if 0 <= v < 128: return bytes([v])
            if 0 <= v < 256: return b"\xcc" + bytes([v])
            if 0 <= v < 65536: return b"\xcd" + struct.pack(">H", v)
            if v >= 0: return b"\xce" + struct.pack(">I", v)
            if v >= -32: return struct.pack(">b", v)
            if v >= -128: return b"\xd0" + struct.pack(">b", v)
            if v >= -32768: return b"\xd1" + struct.pack(">h", v)
            return b"\xd2" + struct.pack(">i", v)
        if v <= 2**63 - 1: return b"\xd3" + struct.pack(">q", v)
        return b"\xcf" + struct.pack(">Q", v)
    if isinstance(v, str):
        b = v.encode()
        n = len(b)
        if n < 32: return bytes([0xa0 | n]) + b
        if n < 256: return bytes([0xd9, n]) + b
        if n < 65536: return b"\xda" + struct.pack(">H", n) + b
        return b"\xdb" + struct.pack(">I", n) + b
    if isinstance(v, list):
        n = len(v)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n) if n < 65536 else b"\xdd" + struct.pack(">I", n)
        return head + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode())
        n = len(items)
        head = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n) if n < 65536 else b"\xdf" + struct.pack(">I", n)
        return head + b"".join(enc(k) + enc(x) for k, x in items)
    raise TypeError(v)

h = bytes.fromhex
def B(x): return Bin(h(x))
ok = 0
def check(name, got, want):
    global ok
    if got != want:
        print("MISMATCH", name, got, want); sys.exit(1)
    ok += 1

# tagged hash
t = V["tagged-hash"]
check("tagged preimage", (bytes([len(t["tag"])]) + t["tag"].encode() + h(t["data"])).hex(), t["preimage"])
check("tagged hash", H("Transaction", h(t["data"])).hex(), t["hash"])

# canonical examples (the ones expressible without the JS value)
samples = {"0": 0, "127": 127, "128": 128, "65535": 65535, "256": 256, "65536": 65536, "-1": -1,
           "-32": -32, "-33": -33, "-129": -129, "-32769": -32769, "true": True, "null": None,
           "\"TREAT\"": "TREAT", "[]": [], "{}": {}}
for c in V["canonical"]:
    if c["value"] in samples: check("canon " + c["value"], enc(samples[c["value"]]).hex(), c["hex"])
    elif c["value"].startswith("4294967296"): check(c["value"], enc(2**32).hex(), c["hex"])
    elif c["value"].startswith("1800000000000"): check(c["value"], enc(1800000000000).hex(), c["hex"])
    elif c["value"].startswith("-2147483649"): check(c["value"], enc(-2147483649).hex(), c["hex"])
    elif c["value"].startswith("9223372036854775808"): check(c["value"], enc(2**63).hex(), c["hex"])
    elif c["value"].startswith("{\"b\""): check(c["value"], enc({"b": 1, "a": 2}).hex(), c["hex"])
    elif c["value"].startswith("{\"k00\""): check(c["value"], enc({f"k{i:02d}": i for i in range(16)}).hex(), c["hex"])
    elif "str8" in c["value"]: check(c["value"], enc("medchain-vectors/" + "x" * 23).hex(), c["hex"])

# transactions: JSON fields -> typed values by the body tables of PROTOCOL.md section 3.1
def typed_body(kind, body):
    if kind == "patient.register": return {}
    if kind == "consent.grant":
        return {"patient": B(body["patient"]), "grantee": {"type": body["grantee"]["type"], "id": B(body["grantee"]["id"])},
                "recordIds": [B(x) for x in body["recordIds"]], "resourceTypes": body["resourceTypes"],
                "actions": body["actions"], "purposes": body["purposes"], "validFrom": body["validFrom"],
                "validUntil": body["validUntil"]}
    if kind == "organization.rotate-key": return {"oldKey": B(body["oldKey"]), "newKey": B(body["newKey"])}
    raise ValueError(kind)

for name in ("tx-patient-register", "tx-consent-grant", "tx-rotate-key"):
    t = V[name]
    f = t["fields"]
    seed = h(t["seed"])
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    check(name + " pk", pk.hex(), t["publicKey"])
    unsigned = {"chainId": f["chainId"], "kind": f["kind"], "body": typed_body(f["kind"], f["body"]),
                "signer": Bin(pk), "nonce": f["nonce"]}
    check(name + " unsigned", enc(unsigned).hex(), t["unsignedCanonical"])
    digest = H("Transaction", enc(unsigned))
    check(name + " digest", digest.hex(), t["signingDigest"])
    sig = sk.sign(digest)
    check(name + " sig", sig.hex(), t["signature"])
    signed = dict(unsigned, signature=Bin(sig))
    check(name + " wire", enc(signed).hex(), t["signedCanonical"])
    check(name + " hash", H("Transaction", enc(signed)).hex(), t["hash"])

ids = V["ids"]["recordId"]
check("record id", H("RecordId", h(ids["custodian"]), h(ids["patient"]), h(ids["nonce"])).hex(), ids["id"])
check("consent id", V["ids"]["consentId"], V["tx-consent-grant"]["hash"])

def b58(b):
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = int.from_bytes(b, "big"); s = ""
    while n: n, r = divmod(n, 58); s = alphabet[r] + s
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + s
for d in V["ids"]["didKey"]:
    check("did", "did:key:z" + b58(b"\xed\x01" + h(d["key"])), d["did"])

# genesis
g = V["genesis"]["document"]
gen = {"chainId": g["chainId"], "genesisTime": g["genesisTime"],
       "organizations": [{"id": B(o["id"]), "adminKeys": [B(k) for k in o["adminKeys"]],
                          "validatorKey": B(o["validatorKey"]), "peerId": o["peerId"]} for o in g["organizations"]],
       "params": g["params"], "consensus": g["consensus"]}
check("genesis canon", enc(gen).hex(), V["genesis"]["canonical"])
check("genesis hash", H("BlockHeader", enc(gen)).hex(), V["genesis"]["hash"])

# validator set
vs = [{"orgId": Bin(h(o["id"])), "publicKey": Bin(h(o["validatorKey"])), "peerId": o["peerId"]} for o in g["organizations"]]
vs.sort(key=lambda v: bytes(v["publicKey"]))
check("vset hash", H("ValidatorSet", enc(vs)).hex(), V["validator-set"]["hash"])

# merkle + header
def merkle(leaves):
    def tree(xs):
        if len(xs) == 1: return H("MerkleLeaf", xs[0])
        k = 1
        while k * 2 < len(xs): k *= 2
        return H("MerkleNode", tree(xs[:k]), tree(xs[k:]))
    if not leaves: return H("MerkleRoot", struct.pack(">Q", 0))
    return H("MerkleRoot", struct.pack(">Q", len(leaves)), tree(leaves))
hv = V["header"]
hd = hv["header"]
check("txRoot", merkle([h(x) for x in [V["tx-patient-register"]["hash"], V["tx-consent-grant"]["hash"]]]).hex(), hd["txRoot"])
header = {k: (B(x) if k in ("parentHash", "txRoot", "stateRoot", "validatorSetHash", "proposer") else x) for k, x in hd.items()}
check("parent", hd["parentHash"], V["genesis"]["hash"])
check("header hash", H("BlockHeader", enc(header)).hex(), hv["hash"])

# certificate: quorum of the genesis set over the vote signing hash
c = V["certificate"]
cert = c["certificate"]
n = len(vs); f = (n - 1) // 3; q = (n + f) // 2 + 1
check("quorum", q, c["quorum"])
vote = H("ConsensusMessage", enc({"chain": hd["chainId"], "digest": Bin(h(hv["hash"])), "height": 1, "type": "commit", "view": 0}))
check("vote hash", vote.hex(), c["voteSigningHash"])
members = {bytes(v["publicKey"]) for v in vs}
seen = set()
for v in cert["votes"]:
    k = h(v["from"]); assert k in members and k not in seen; seen.add(k)
    Ed25519PublicKey.from_public_bytes(k).verify(h(v["signature"]), vote); ok += 1
assert len(seen) >= q and cert["digest"] == hv["hash"] and cert["height"] == hd["height"]

# state proofs
def bit(b, i): return (b[i >> 3] >> (7 - (i & 7))) & 1
def dec(b):
    """A minimal msgpack reader for the proof map."""
    pos = 0
    def rd():
        nonlocal pos
        t = b[pos]; pos += 1
        if t >> 4 == 0x8:
            return {rd(): rd() for _ in range(t & 0xf)}
        if t >> 4 == 0x9: return [rd() for _ in range(t & 0xf)]
        if t >> 5 == 0x5:
            n = t & 0x1f; s = b[pos:pos + n].decode(); pos += n; return s
        if t < 0x80: return t
        if t == 0xc4:
            n = b[pos]; pos += 1; x = b[pos:pos + n]; pos += n; return bytes(x)
        if t == 0xcc: x = b[pos]; pos += 1; return x
        if t == 0xcd: x = struct.unpack(">H", b[pos:pos+2])[0]; pos += 2; return x
        raise ValueError(hex(t))
    v = rd(); assert pos == len(b); return v
for name in ("proof-inclusion", "proof-absent-empty", "proof-absent-leaf"):
    p = V[name]
    proof = dec(h(p["proof"]))
    check(name + " re-encode", enc({k: (Bin(x) if isinstance(x, bytes) else [Bin(s) for s in x] if isinstance(x, list) else {a: Bin(y) for a, y in x.items()} if isinstance(x, dict) else x) for k, x in proof.items()}).hex(), p["proof"])
    key = h(p["key"]); path = H("StateKey", key)
    check(name + " keyHash", path.hex(), p["keyHash"])
    depth, bitmap, sibs, leaf = proof["depth"], proof["bitmap"], proof["siblings"], proof.get("leaf")
    if p["value"] is not None:
        assert leaf is None
        cur = H("StateLeaf", path, hashlib.sha256(h(p["value"])).digest())
    elif leaf is not None:
        assert leaf["keyHash"] != path and all(bit(leaf["keyHash"], i) == bit(path, i) for i in range(depth))
        cur = H("StateLeaf", leaf["keyHash"], leaf["valueHash"])
    else:
        cur = bytes(32)
    j = len(sibs)
    for d in range(depth - 1, -1, -1):
        if bit(bitmap, d): j -= 1; s = sibs[j]
        else: s = bytes(32)
        cur = H("StateNode", cur, s) if bit(path, d) == 0 else H("StateNode", s, cur)
    check(name + " root", cur.hex(), p["stateRoot"])
check("root in header", V["proof-inclusion"]["stateRoot"], hd["stateRoot"])

# access request
a = V["access-request"]; r = a["request"]
req = {"recordId": B(r["recordId"]), "requester": B(r["requester"]), "action": r["action"],
       "purpose": r["purpose"], "time": r["time"], "nonce": B(r["nonce"])}
check("ar canon", enc(req).hex(), a["canonical"])
dg = H("AccessRequest", enc(req)); check("ar digest", dg.hex(), a["digest"])
check("ar sig", Ed25519PrivateKey.from_private_bytes(h(a["seed"])).sign(dg).hex(), a["signature"])

# record commitment and the served payload
rc = V["record-commitment"]
check("commitment", H("RecordContent", h(rc["salt"]), h(rc["content"])).hex(), rc["commitment"])
check("unsalted anchor", hashlib.sha256(h(rc["content"])).hexdigest(), rc["unsaltedAnchor"])
check("payload", enc({"content": B(rc["content"]), "salt": B(rc["salt"])}).hex(), rc["payload"])
check("unsalted payload", enc({"content": B(rc["content"])}).hex(), rc["unsaltedPayload"])

# audit accumulator: h_n = H_AuditChain(h_{n-1}, canon(entry n-1))
ac = V["audit-chain"]
AUDIT_BYTES = ("patient", "recordId", "custodian", "requester", "consentId", "txHash", "requestHash")
def audit_entry(j):
    e = {k: (B(v) if k in AUDIT_BYTES and v is not None else v) for k, v in j.items()}
    if "recordIds" in e: e["recordIds"] = [B(x) for x in e["recordIds"]]
    return e
prev = h(ac["start"])
check("audit start", prev, bytes(32))
for i, j in enumerate(ac["entries"]):
    c = enc(audit_entry(j)); check(f"audit canon {i}", c.hex(), ac["canonical"][i])
    prev = H("AuditChain", prev, c); check(f"audit hash {i}", prev.hex(), ac["hashes"][i])
check("audit accumulator", enc({"count": len(ac["entries"]), "hash": Bin(prev)}).hex(), ac["accumulator"])

# signed requests
from urllib.parse import urlsplit
for name in ("request-get", "request-post"):
    x = V[name]
    u = urlsplit(x["url"])
    created = x["now"] // 1000
    comps = ['"@method"', '"@authority"', '"@path"', '"@query"']
    vals = [x["method"], u.netloc.lower(), u.path or "/", "?" + u.query]
    if x["body"] is not None:
        digest = "sha-256=:" + base64.b64encode(hashlib.sha256(x["body"].encode()).digest()).decode() + ":"
        check(name + " digest", digest, x["headers"]["content-digest"])
        comps.append('"content-digest"'); vals.append(digest)
    params = f'({" ".join(comps)});created={created};expires={created + 60};nonce="{x["nonce"]}";keyid="{x["keyid"]}";alg="ed25519";tag="medchain-v1"'
    check(name + " input", "medchain=" + params, x["headers"]["signature-input"])
    base = "\n".join(f"{c}: {v}" for c, v in zip(comps, vals)) + f'\n"@signature-params": {params}'
    check(name + " base", base.split("\n"), x["signatureBase"])
    sig = Ed25519PrivateKey.from_private_bytes(h(x["seed"])).sign(base.encode())
    check(name + " sig", "medchain=:" + base64.b64encode(sig).decode() + ":", x["headers"]["signature"])

print("all", ok, "checks match")
