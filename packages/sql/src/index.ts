export * as CheckpointSchema from "./CheckpointSchema.js"
export * as SqlCheckpoint from "./SqlCheckpoint.js"
