/**
 * Secure aggregation under CKKS (node-seal): hospitals encrypt clipped updates under one public
 * key, the Aggregator adds ciphertexts with the public bundle only, and t of n hospitals decrypt
 * the sum with Shamir shares of the secret key (threshold decryption with smudging noise).
 */
export { CkksAggregator, refuseSecretMaterial } from "./aggregator.ts";
export { dealThresholdKeys, type Deal, type DealOptions } from "./dealer.ts";
export { checkUpdate, encryptUpdate } from "./encrypt.ts";
export { CkksEncryptionPool, DEFAULT_ENCRYPTION_POOL, type EncryptionPoolOptions } from "./encrypt-pool.ts";
export { AggregateUnverified, CiphertextMismatch, InvalidCkksParameters, InvalidShare, InvalidUpdate, MalformedCiphertext, NotEnoughShares, SecretKeyRefused } from "./errors.ts";
export { decodeKeyShare, encodeKeyShare, isKeyShareBytes, type KeyShare, type PublicBundle } from "./keys.ts";
export { DEFAULT_CKKS_PARAMETERS, checkParameters, ciphertextCount, type CkksGuarantees, type CkksParameters } from "./parameters.ts";
export { secureSum, type SecureSumInput } from "./round.ts";
export { combineShares, decryptionShare, decryptorSet, type DecryptionShare } from "./threshold.ts";
export { digestOf, type EncryptedUpdate } from "./update.ts";
export { verifyAggregate, type AggregateCheck } from "./verify.ts";
export { decodeBundle, encodeBundle, readBundleFile, readKeyShareFile, readSigningKeyFile, writeKeyCeremony, type CeremonyFiles } from "./key-files.ts";
export { contributionMessage, signContribution, signingKeyOf, verifyContributionSignatures, type ContributionSignature, type Signers } from "./signatures.ts";
