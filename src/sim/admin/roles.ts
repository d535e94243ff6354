/**
 * Built-in Azure role GUIDs (the same in every tenant; azure-protocols.md §4.3), so seeds can say
 * `"role": "Managed Identity Operator"` instead of a GUID.
 * @module
 */
import { GUID } from './fields.ts';

export const BUILT_IN_ROLES: Readonly<Record<string, string>> = {
  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
  Contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  Owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  'Managed Identity Operator': 'f1a07417-d97a-45cb-824c-7a7467783830',
  'Managed Identity Contributor': 'e40ec5ca-96e0-45a2-b4ff-59039f2c2b59',
  'Virtual Machine Contributor': '9980e02c-c2be-4d73-94e8-173b1dc7cf3c',
  'User Access Administrator': '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  'Storage Blob Data Reader': '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1',
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  'Storage Account Contributor': '17d1049b-9a84-46fb-8f53-869881c3d3ab',
};

const ROLE_DEFINITION_ID = /\/providers\/Microsoft\.Authorization\/roleDefinitions\/[0-9a-f-]{36}$/i;

/**
 * The role definition ID for `role` — a full role definition ID (kept), a GUID, or a built-in role
 * name (case-insensitive) — as ARM writes it: under the scope's subscription, if any. Undefined for
 * an unknown name.
 */
export function roleDefinitionId(role: string, scope: string): string | undefined {
  if (ROLE_DEFINITION_ID.test(role)) return role;
  const guid = GUID.test(role) ? role : Object.entries(BUILT_IN_ROLES).find(([name]) => name.toLowerCase() === role.toLowerCase())?.[1];
  if (guid === undefined) return undefined;
  const subscription = /^\/subscriptions\/([^/]+)/i.exec(scope)?.[1];
  return `${subscription === undefined ? '' : `/subscriptions/${subscription}`}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
}
