export * from '../../src/devenv/description.ts';
import type { ControlPlaneInfo } from '../../src/devenv/description.ts';

// Test-only wiring: what global setup hands to test files through vitest's provide/inject.
declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
  }
}
