/**
 * `@curator/node/cluster`: one run computed by runner processes on several
 * machines, coordinated through PostgreSQL. Needs the optional peer
 * `@effect/sql-pg` (`npm install @effect/sql-pg`).
 */
export * as ClusterBackend from "../ClusterBackend.js"
export * as ClusterRunner from "../ClusterRunner.js"
