// Bundled for the browser test (platform browser): the client's browser path, in a real page.
import {
  generateSigner,
  LightClient,
  MedchainClient,
  signTransaction,
  stateKeys,
  toHex,
  verifyTransactionSignature,
  WebCryptoSigner,
} from '../../src/index.js';

async function run(url: string, expectedGenesisHash: string) {
  const webCrypto = await WebCryptoSigner.isSupported();
  const patient = await generateSigner();
  const client = new MedchainClient({ url, signer: patient });
  const registered = await client.sendTransaction('patient.register', {});
  const tx = await client.tx(registered.hash);
  const policy = await client.sendTransaction('patient.policy', {
    patient: patient.publicKey,
    breakGlassOptOut: true,
    researchOptOut: false,
  });
  // The genesis the node serves, accepted only with the hash the app pins.
  const light = await LightClient.fromNode(client, expectedGenesisHash);
  const proven = await light.provePatient(patient.publicKey);
  const answer = await client.stateProof(stateKeys.patient(patient.publicKey));
  const forged = await light.checkStateProof(
    { ...answer, stateRoot: answer.stateRoot.replace(/^./, (c) => (c === '0' ? '1' : '0')) },
    stateKeys.patient(patient.publicKey),
  );
  return {
    webCrypto,
    signerKind: patient instanceof WebCryptoSigner ? 'WebCryptoSigner' : 'KeySigner',
    receipts: [registered.receipt?.code, policy.receipt?.code],
    committed: tx.status,
    signatureValid: verifyTransactionSignature(
      await signTransaction(patient, {
        chainId: await client.chainId(),
        kind: 'patient.register',
        body: {},
        nonce: 9,
      }),
    ),
    proofVerified: proven.check.verified,
    provenKey: proven.value === undefined ? null : toHex(proven.value.key),
    patientKey: toHex(patient.publicKey),
    forgedVerified: forged.verified,
  };
}

(globalThis as { runMedchain?: typeof run }).runMedchain = run;
