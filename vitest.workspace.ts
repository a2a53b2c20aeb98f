// The vitest projects: each package's own tests, the cross-package tests in
// test/, and the cluster tests, run last (packages/node/vitest.cluster.config.ts).
export default ["packages/*", "test", "packages/node/vitest.cluster.config.ts"]
