/**
 * Output whose reader went away. A reader that stops early
 * (`curator logs --json | head`) closes the pipe; Node then reports the
 * next write's EPIPE as an unhandled 'error' event: a stack trace and exit
 * 1. What was left to print has no one to read it, so it is dropped
 * quietly: the command carries on (a run still records every index) and
 * exits with its own code.
 */

const dropWhenClosed = (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error
}

/** Makes writes to `stream` after its reader closed it end quietly (idempotent). */
export const endQuietly = (stream: NodeJS.WriteStream): void => {
  if (!stream.listeners("error").includes(dropWhenClosed)) stream.on("error", dropWhenClosed)
}
