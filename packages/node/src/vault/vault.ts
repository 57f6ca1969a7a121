import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import {
  assertLength,
  concatBytes,
  decodeCanonical,
  encodeCanonical,
  toHex,
  utf8,
} from '@medchain/crypto';
import { RECORD_SALT_BYTES, recordAnchor } from '@medchain/ledger';
import { Level } from 'level';
import { type EntrySource, snapshotEntries } from '../home/level-dump.js';
import type { Logger } from '../logger.js';
import { RecordError } from '../records/errors.js';
import { checkFhirResource } from './fhir.js';

/**
 * HKDF info for the vault master key. The master key is HKDF-SHA256(ikm = the node's
 * validator seed, salt = empty, info = this string): the node key the operator already guards
 * (keystore, 0600 file), and a key used for nothing else.
 */
export const VAULT_MASTER_KEY_INFO = 'medchain/vault-master-key/v1';
/** Associated data prefix of a wrapped data key (the record id follows). */
const WRAP_AAD = utf8('medchain/vault-wrap/v1');
/** Associated data prefix of a sealed salt (record id and u32 version follow). */
const SALT_AAD = utf8('medchain/vault-salt/v1');

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Key prefixes inside the vault's own LevelDB (not the chain database). */
const Bucket = {
  /** recordId -> canonical {patient, resourceType, versions: [{version, contentHash}]}; contentHash is the anchor */
  meta: 1,
  /** recordId -> the record's data key, wrapped: iv | AES-256-GCM(master, key) | tag */
  dataKey: 2,
  /** recordId | u32 version -> iv | AES-256-GCM(dataKey, content) | tag */
  content: 3,
  /** recordId -> canonical {erasedAt}: what stays after crypto-shredding, so it is never refilled */
  erased: 4,
  /** recordId | u32 version -> iv | AES-256-GCM(dataKey, salt) | tag: the anchor's salt, beside the key */
  salt: 5,
} as const;

export interface VaultVersion {
  readonly version: number;
  /** The version's anchor: the salted commitment, or sha256 of the content for an unsalted one. */
  readonly contentHash: Uint8Array;
}

export interface VaultEntry {
  readonly recordId: Uint8Array;
  readonly patient: Uint8Array;
  readonly resourceType: string;
  readonly versions: readonly VaultVersion[];
}

export interface VaultRecord {
  readonly recordId: Uint8Array;
  readonly patient: Uint8Array;
  readonly resourceType: string;
  readonly version: number;
  /** What `record.anchor` / `record.amend` carry: recordAnchor(content, salt) (ledger). */
  readonly contentHash: Uint8Array;
  readonly content: Uint8Array;
  /** The anchor's salt; absent for a version anchored by plain sha256 of its content. */
  readonly salt?: Uint8Array;
}

export interface PutRecord {
  readonly recordId: Uint8Array;
  readonly patient: Uint8Array;
  /** 1 for a new record, the next number for an amendment. */
  readonly version: number;
  /** FHIR R4 JSON (resource or Bundle), UTF-8. */
  readonly content: Uint8Array;
  /**
   * The 32-byte salt the anchor commits with (recordCommitment, ledger); absent only for a
   * version anchored by plain sha256 of its content.
   */
  readonly salt?: Uint8Array;
}

export interface VaultOptions {
  /** The node's validator seed; the master key is derived from it (VAULT_MASTER_KEY_INFO). */
  readonly masterSeed: Uint8Array;
  readonly logger?: Logger;
}

/** `level` runs on classic-level in Node, whose compactRange its type does not declare. */
interface Compactable {
  compactRange(start: Uint8Array, end: Uint8Array): Promise<void>;
}

function key(bucket: number, ...parts: Uint8Array[]): Uint8Array {
  return concatBytes(Uint8Array.of(bucket), ...parts);
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

function plain(bytes: Uint8Array | undefined): Uint8Array | undefined {
  return bytes === undefined
    ? undefined
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function seal(secret: Uint8Array, data: Uint8Array, aad: Uint8Array): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', secret, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return new Uint8Array(
    Buffer.concat([iv, cipher.update(data), cipher.final(), cipher.getAuthTag()]),
  );
}

function open(secret: Uint8Array, sealed: Uint8Array, aad: Uint8Array, what: string): Uint8Array {
  if (sealed.length < IV_BYTES + TAG_BYTES) {
    throw new RecordError('RECORD_VAULT_CORRUPT', `${what} is truncated`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', secret, sealed.subarray(0, IV_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return new Uint8Array(
      Buffer.concat([
        decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]),
    );
  } catch {
    throw new RecordError(
      'RECORD_VAULT_CORRUPT',
      `${what} does not decrypt (damaged, or sealed under another node's key)`,
    );
  }
}

/**
 * A hospital's record store, encrypted at rest, in its own LevelDB (`<home>/vault`). Each
 * record has its own random 256-bit data key; its versions are AES-256-GCM under that key with
 * record id and version as associated data, and so is each version's anchor salt; the data key
 * is stored wrapped (AES-256-GCM) by the vault master key. Erasing deletes the wrapped key,
 * every ciphertext and every salt, then compacts the whole database so none survives in
 * LevelDB's log or table files (crypto-shredding): the ledger's anchors then commit to content
 * nobody can test a guess against.
 * Writes to the vault are serialized.
 */
export class Vault {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly level: Level<Uint8Array, Uint8Array>,
    private readonly masterKey: Uint8Array,
    private readonly logger: Logger | undefined,
  ) {}

  static async open(path: string, options: VaultOptions): Promise<Vault> {
    assertLength(options.masterSeed, KEY_BYTES, 'vault master seed');
    const masterKey = new Uint8Array(
      hkdfSync('sha256', options.masterSeed, new Uint8Array(0), VAULT_MASTER_KEY_INFO, KEY_BYTES),
    );
    const level = new Level<Uint8Array, Uint8Array>(path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    });
    await level.open();
    return new Vault(level, masterKey, options.logger);
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async read(bytesKey: Uint8Array): Promise<Uint8Array | undefined> {
    return plain(await this.level.get(bytesKey));
  }

  /** What the vault holds about a record (no content), or undefined. */
  async describe(recordId: Uint8Array): Promise<VaultEntry | undefined> {
    const raw = await this.read(key(Bucket.meta, recordId));
    if (raw === undefined) return undefined;
    const meta = decodeCanonical(raw) as unknown as Omit<VaultEntry, 'recordId'>;
    return { recordId, ...meta };
  }

  /** Every raw entry (still encrypted) as of this call: for backups (home/backup-socket.ts). */
  snapshotEntries(): EntrySource {
    return snapshotEntries(this.level);
  }

  /** Every record the vault holds (no content), in record id order. */
  async *entries(): AsyncGenerator<VaultEntry> {
    const range = { gt: Uint8Array.of(Bucket.meta), lt: Uint8Array.of(Bucket.meta + 1) };
    for await (const [bytesKey, raw] of this.level.iterator(range)) {
      const meta = decodeCanonical(plain(raw)!) as unknown as Omit<VaultEntry, 'recordId'>;
      yield { recordId: plain(bytesKey)!.slice(1), ...meta };
    }
  }

  async isErased(recordId: Uint8Array): Promise<boolean> {
    return (await this.read(key(Bucket.erased, recordId))) !== undefined;
  }

  /**
   * Stores one version of a record (FHIR checked first). Version 1 creates the record and its
   * data key; later versions must be higher than every stored one.
   */
  async put(record: PutRecord): Promise<VaultVersion & { resourceType: string }> {
    const resourceType = checkFhirResource(record.content);
    assertLength(record.recordId, 32, 'record id');
    if (record.salt !== undefined) assertLength(record.salt, RECORD_SALT_BYTES, 'record salt');
    return this.serialized(async () => {
      const { recordId, version } = record;
      if (!Number.isSafeInteger(version) || version < 1 || version > 0xffff_ffff) {
        throw new RecordError('RECORD_VERSION_EXISTS', `version must be a positive integer`);
      }
      if (await this.isErased(recordId)) {
        throw new RecordError('RECORD_ERASED', `record ${toHex(recordId)} was erased here`);
      }
      const existing = await this.describe(recordId);
      const last = existing?.versions.at(-1)?.version ?? 0;
      if (version <= last) {
        throw new RecordError(
          'RECORD_VERSION_EXISTS',
          `the vault holds version ${last} of ${toHex(recordId)}; give version ${last + 1}`,
        );
      }
      let dataKey: Uint8Array;
      const batch = this.level.batch();
      if (existing === undefined) {
        dataKey = new Uint8Array(randomBytes(KEY_BYTES));
        batch.put(
          key(Bucket.dataKey, recordId),
          seal(this.masterKey, dataKey, concatBytes(WRAP_AAD, recordId)),
        );
      } else {
        dataKey = await this.dataKey(recordId);
      }
      const contentHash = recordAnchor(record.content, record.salt);
      const versionKey = u32(version);
      batch.put(
        key(Bucket.content, recordId, versionKey),
        seal(dataKey, record.content, concatBytes(recordId, versionKey)),
      );
      if (record.salt !== undefined) {
        batch.put(
          key(Bucket.salt, recordId, versionKey),
          seal(dataKey, record.salt, concatBytes(SALT_AAD, recordId, versionKey)),
        );
      }
      const meta = {
        patient: existing?.patient ?? record.patient,
        resourceType: existing?.resourceType ?? resourceType,
        versions: [...(existing?.versions ?? []), { version, contentHash }].map((v) => ({
          version: v.version,
          contentHash: v.contentHash,
        })),
      };
      batch.put(key(Bucket.meta, recordId), encodeCanonical(meta));
      await batch.write({ sync: true });
      return { version, contentHash, resourceType };
    });
  }

  private async dataKey(recordId: Uint8Array): Promise<Uint8Array> {
    const wrapped = await this.read(key(Bucket.dataKey, recordId));
    if (wrapped === undefined) {
      throw new RecordError('RECORD_VAULT_CORRUPT', `record ${toHex(recordId)} has no data key`);
    }
    return open(this.masterKey, wrapped, concatBytes(WRAP_AAD, recordId), 'the data key');
  }

  /**
   * The plaintext of the version whose hash is `contentHash` (the ledger's current anchor), or
   * of the latest version when none is named.
   */
  async get(recordId: Uint8Array, contentHash?: Uint8Array): Promise<VaultRecord> {
    if (await this.isErased(recordId)) {
      throw new RecordError('RECORD_ERASED', `record ${toHex(recordId)} was erased here`);
    }
    const entry = await this.describe(recordId);
    const wanted =
      contentHash === undefined
        ? entry?.versions.at(-1)
        : entry?.versions.find((v) => toHex(v.contentHash) === toHex(contentHash));
    if (entry === undefined || wanted === undefined) {
      throw new RecordError(
        'RECORD_NOT_IN_VAULT',
        `the vault holds no ${contentHash === undefined ? 'copy' : 'version with the anchored hash'} of record ${toHex(recordId)}`,
      );
    }
    const versionKey = u32(wanted.version);
    const sealed = await this.read(key(Bucket.content, recordId, versionKey));
    if (sealed === undefined) {
      throw new RecordError('RECORD_VAULT_CORRUPT', `version ${wanted.version} has no content`);
    }
    const dataKey = await this.dataKey(recordId);
    const content = open(dataKey, sealed, concatBytes(recordId, versionKey), 'the content');
    const sealedSalt = await this.read(key(Bucket.salt, recordId, versionKey));
    const salt =
      sealedSalt === undefined
        ? undefined
        : open(dataKey, sealedSalt, concatBytes(SALT_AAD, recordId, versionKey), 'the salt');
    return {
      recordId,
      patient: entry.patient,
      resourceType: entry.resourceType,
      version: wanted.version,
      contentHash: wanted.contentHash,
      content,
      ...(salt === undefined ? {} : { salt }),
    };
  }

  /**
   * Crypto-shredding: deletes the wrapped data key, every version's ciphertext and salt and the
   * metadata in one synced batch, leaves an erased marker, then compacts the whole database so
   * LevelDB rewrites its log and tables without them. Returns false when the vault never held
   * the record (the marker is still written, so it cannot be put later).
   */
  async erase(recordId: Uint8Array): Promise<boolean> {
    assertLength(recordId, 32, 'record id');
    return this.serialized(async () => {
      const entry = await this.describe(recordId);
      const batch = this.level.batch();
      batch.del(key(Bucket.dataKey, recordId));
      batch.del(key(Bucket.meta, recordId));
      for (const { version } of entry?.versions ?? []) {
        batch.del(key(Bucket.content, recordId, u32(version)));
        batch.del(key(Bucket.salt, recordId, u32(version)));
      }
      batch.put(key(Bucket.erased, recordId), encodeCanonical({ erased: true }));
      await batch.write({ sync: true });
      // Deleted values stay in the .log and .ldb files until compaction rewrites them; a full
      // manual compaction flushes the memtable (a new log) and merges every level, dropping
      // the deleted entries and their tombstones.
      await (this.level as unknown as Compactable).compactRange(
        Uint8Array.of(0),
        Uint8Array.of(0xff),
      );
      this.logger?.info(
        { recordId: toHex(recordId), versions: entry?.versions.length ?? 0 },
        'record crypto-shredded',
      );
      return entry !== undefined;
    });
  }

  async close(): Promise<void> {
    await this.queue;
    await this.level.close();
  }
}
