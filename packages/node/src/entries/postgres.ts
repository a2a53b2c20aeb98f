/**
 * `@curator/node/postgres`: checkpoints on a PostgreSQL server. Needs the
 * optional peer `@effect/sql-pg` (`npm install @effect/sql-pg`).
 */
export * as PgCheckpointStore from "../PgCheckpointStore.js"
