import type { Context } from './context.ts';
import { Health } from '../health/index.ts';

/**
 * The domain services, built once per process from the context and handed to the API and the
 * roles. Each capability adds its service here.
 */
export interface Services {
  readonly health: Health;
}

export function buildServices(_ctx: Context): Services {
  return { health: new Health() };
}
