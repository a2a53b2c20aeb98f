// The vitest projects: each package's own tests, and the cross-package tests in test/.
export default ["packages/*", "test"]
