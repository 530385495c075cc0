import type { App, ApiDeps } from '../app.ts';
import { healthRoutes } from './health.ts';

/** Every route module, registered in one place. */
export async function registerRoutes(app: App, deps: ApiDeps): Promise<void> {
  await app.register(healthRoutes, deps);
}
