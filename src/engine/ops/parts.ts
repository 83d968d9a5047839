// What every group of engine operations is built from: the driver, the statements of one schema,
// its NOTIFY channel, and the runner for a scope (the pool when there is none).
import type { Driver, Queryable } from '../../driver/types.js';
import type { ClusterStatements } from '../sql/cluster.js';
import type { ControlStatements } from '../sql/control.js';
import type { KeyedStatements } from '../sql/keyed.js';
import type { Statements } from '../sql/jobs.js';
import type { WorkflowStatements } from '../sql/workflow.js';
import type { Scope } from '../types.js';

/** The pieces an operation group needs. */
export interface EngineParts {
  readonly driver: Driver;
  readonly sql: Statements;
  readonly control: ControlStatements;
  readonly keyed: KeyedStatements;
  readonly cluster: ClusterStatements;
  readonly workflow: WorkflowStatements;
  readonly channel: string;
  /** docket's schema, unquoted (advisory lock keys, catalog lookups). */
  readonly schema: string;
  /** Retention 'none': acks delete completed jobs instead of moving them into the history. */
  readonly dropCompleted: boolean;
  /** Where a statement of this scope runs. */
  on(scope: Scope | undefined): Queryable;
}

/** The count a `SELECT count(*) AS n` statement returned. */
export function count(rows: readonly { n: number }[]): number {
  return Number(rows[0]?.n ?? 0);
}
