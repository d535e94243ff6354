/**
 * Older spellings of spec fields that the CRD schemas declare as properties.
 *
 * Readers accept any casing of a field (as upstream's decoder did). The API server, though, only
 * lets CEL rules see declared properties, so the spellings found in real manifests are declared:
 * the pre-v1.6 JSON tags (all lower case, e.g. `resourceid`), the PascalCase of old docs and blog
 * posts (`ResourceID`, `ClientPassword: {Name, Namespace}`) and `Id` variants (`TenantId`).
 * Other casings are kept (`x-kubernetes-preserve-unknown-fields`) but invisible to the rules.
 * @module
 */
import { bySpellingPrecedence } from './fields.ts';

/** A field's current name and the older spellings declared beside it. */
export interface FieldSpellings {
  readonly current: string;
  readonly legacy: readonly string[];
}

/** Spellings of an `…ID` field: `resourceID` → `resourceId`, `resourceid`, `ResourceID`, `ResourceId`. */
function idSpellings(current: string): FieldSpellings {
  const stem = current.slice(0, -'ID'.length);
  const pascal = stem.charAt(0).toUpperCase() + stem.slice(1);
  return { current, legacy: [`${stem}Id`, current.toLowerCase(), `${pascal}ID`, `${pascal}Id`] };
}

/** Spellings of a plain field: `clientPassword` → `clientpassword`, `ClientPassword`. */
function plainSpellings(current: string): FieldSpellings {
  const pascal = current.charAt(0).toUpperCase() + current.slice(1);
  const lower = current.toLowerCase();
  return { current, legacy: [lower, pascal].filter((spelling) => spelling !== current) };
}

/** Declared spellings of AzureIdentity spec fields that validation rules read. */
export const IDENTITY_SPEC_SPELLINGS = {
  type: plainSpellings('type'),
  resourceID: idSpellings('resourceID'),
  clientID: idSpellings('clientID'),
  clientPassword: plainSpellings('clientPassword'),
  tenantID: idSpellings('tenantID'),
} as const satisfies Record<string, FieldSpellings>;

/** Declared spellings of the fields of `spec.clientPassword` (a Secret reference). */
export const SECRET_REFERENCE_SPELLINGS = {
  name: plainSpellings('name'),
  namespace: plainSpellings('namespace'),
} as const satisfies Record<string, FieldSpellings>;

/** Declared spellings of AzureIdentityBinding spec fields. */
export const BINDING_SPEC_SPELLINGS = {
  azureIdentity: plainSpellings('azureIdentity'),
  selector: plainSpellings('selector'),
} as const satisfies Record<string, FieldSpellings>;

/** Declared spellings of AzurePodIdentityException spec fields. */
export const EXCEPTION_SPEC_SPELLINGS = {
  podLabels: plainSpellings('podLabels'),
} as const satisfies Record<string, FieldSpellings>;

/** All spellings of a field, highest precedence first (the order readers pick a value in). */
export function spellingsByPrecedence(field: FieldSpellings): string[] {
  return [field.current, ...field.legacy].sort(bySpellingPrecedence(field.current));
}
