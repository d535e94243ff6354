/**
 * Wire-format (JSON/YAML) types for the parts of `apiextensions.k8s.io/v1`
 * CustomResourceDefinition that pod-identity's manifests use. client-node's generated classes
 * rename `x-kubernetes-*` keys, so they cannot be written to YAML as they are.
 * @module
 */

/** One `x-kubernetes-validations` entry. */
export interface ValidationRuleManifest {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: string;
}

/** A structural OpenAPI v3 schema node. */
export interface JsonSchema {
  type?: 'object' | 'string' | 'integer' | 'array';
  description?: string;
  format?: string;
  nullable?: boolean;
  maxLength?: number;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema;
  items?: JsonSchema;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: ValidationRuleManifest[];
}

/** A `kubectl get` column. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  jsonPath: string;
  description?: string;
  /** 0 shows the column by default; 1 only with `-o wide`. */
  priority?: number;
}

/** The CustomResourceDefinition manifest of one kind. */
export interface CustomResourceDefinitionManifest {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JsonSchema };
      additionalPrinterColumns: PrinterColumn[];
    }[];
  };
}
