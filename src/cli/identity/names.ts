/**
 * Checks of the names `identity create` takes, as pure functions that return what is expected (or
 * undefined when the text is fine): user-assigned identity names, Kubernetes names, label values, and
 * NMI's namespace and ServiceAccount for `--federated`.
 * @module
 */

/** User-assigned identity names: 3–128 characters, starting with a letter or digit, then letters, digits, `-` and `_`. */
export function checkIdentityName(text: string): string | undefined {
  return /^[a-zA-Z0-9][\w-]{2,127}$/.test(text) ? undefined : 'an identity name (3-128 letters, digits, - and _, starting with a letter or digit)';
}

/** A Kubernetes object name (DNS-1123 subdomain, kept to 63 characters so a `-binding` suffix fits in 253). */
export function checkKubeName(text: string): string | undefined {
  return /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(text) ? undefined : 'a Kubernetes name (lower-case letters, digits, - and ., at most 63, starting and ending alphanumeric)';
}

/** A label value, as the `aadpodidbinding` selector is matched against one. */
export function checkLabelValue(text: string): string | undefined {
  return /^([A-Za-z0-9]([\w.-]{0,61}[A-Za-z0-9])?)$/.test(text) ? undefined : 'a label value (at most 63 letters, digits, -_. starting and ending alphanumeric)';
}

/** The Kubernetes name for an Azure identity name: lower-cased, `_` → `-`. */
export function kubeNameFor(identityName: string): string {
  return identityName.toLowerCase().replaceAll('_', '-');
}

/** A namespace name (DNS-1123 label). */
export function checkNamespaceName(text: string): string | undefined {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(text) ? undefined : 'a namespace name (lower-case letters, digits and -, at most 63, starting and ending alphanumeric)';
}

/** A ServiceAccount name (DNS-1123 subdomain). */
export function checkServiceAccountName(text: string): string | undefined {
  return text.length <= 253 && /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(text) ? undefined : 'a ServiceAccount name (lower-case letters, digits, - and ., at most 253, starting and ending alphanumeric)';
}
