/**
 * pod-identity's API model: names, types, readers and CRD manifests of the aad-pod-identity
 * custom resources. Pure: no I/O (generate-crds.ts, the CLI that writes the manifests, is not
 * exported here).
 * @module
 */
export * from './assigned-identity.ts';
export * from './assigned-state.ts';
export * from './binding.ts';
export * from './cel.ts';
export * from './crd-manifest-types.ts';
export * from './crds.ts';
export * from './envelope.ts';
export * from './errors.ts';
export * from './events.ts';
export * from './exception.ts';
export * from './fields.ts';
export * from './formats.ts';
export * from './identity-type.ts';
export * from './identity.ts';
export * from './legacy-spellings.ts';
export * from './metadata-keys.ts';
export * from './names.ts';
export * from './read-resource.ts';
export * from './resource-id.ts';
export * from './schemas.ts';
export * from './types.ts';
export * from './validation-rules.ts';
