/**
 * The `curator` executable: runs the command line on the process arguments
 * and exits with its code. Ctrl-C (or SIGTERM) stops the command: `run`
 * finishes the indices in flight and prints its summary; a second Ctrl-C
 * interrupts at once. Either way what was opened is closed (checkpoints are
 * flushed) and the process exits with 130.
 */
import * as Main from "./cli/Main.js"
import * as Signals from "./cli/Signals.js"

Signals.runMain(Main.run(process.argv), {
  // Effect's console logger would write over the progress display; runs record their logs in the database.
  disablePrettyLogger: true,
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Main.exitCode(exit))
})
