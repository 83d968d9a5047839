// Read-only operations over the history for operations tools: jobs finished per minute.
import type { Queryable } from '../../driver/types.js';
import type { InsightOperations } from '../engine.js';
import type { InsightStatements, ThroughputRow } from '../sql/insights.js';

/** Insight operations over `driver`. */
export function insightOperations(driver: Queryable, sql: InsightStatements): InsightOperations {
  return {
    async throughput({ minutes, queue }) {
      const rows =
        queue === null
          ? await driver.query<ThroughputRow>(sql.throughput, [minutes])
          : await driver.query<ThroughputRow>(sql.queueThroughput, [minutes, queue]);
      // float8 and int arrive as numbers from pg, and may arrive as strings from postgres.js.
      return rows.map((r) => ({
        minute: Number(r.minute),
        completed: Number(r.completed),
        discarded: Number(r.discarded),
        cancelled: Number(r.cancelled),
      }));
    },
  };
}
