// The `metrics` settings: Prometheus exposition at /metrics on the main port, off by default and,
// when on, only for a scraper that presents the bearer token (the counters tell sign-in volumes and
// failure rates, which are nobody else's business).
import { z } from 'zod';

export const metricsSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Serve Prometheus metrics at /metrics (needs metrics.bearerToken). Off: /metrics is 404.'),
    bearerToken: z
      .string()
      .min(32)
      .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
      .optional()
      .describe('Token the scraper sends as `Authorization: Bearer <token>` (32+ printable characters; compared in constant time). Other requests get 401.'),
  })
  .prefault({})
  .refine((m) => !m.enabled || m.bearerToken !== undefined, { message: 'metrics.enabled needs metrics.bearerToken', path: ['bearerToken'] })
  .describe('Prometheus metrics (with `--workers`, one scrape answers for every worker).');

export type MetricsConfig = z.infer<typeof metricsSchema>;
