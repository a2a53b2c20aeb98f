/**
 * The progress display of `curator run`. A run's progress events update a
 * small mutable state in O(1) (no allocation per index); a timer renders
 * that state: on a terminal, a live frame redrawn a few times a second (a
 * bar with done / failed / cached / remaining, rate and ETA, and one line
 * per worker with its index and for how long); elsewhere, one plain line
 * every few seconds. Rendering is a pure function of the state and the time.
 */
import type { Progress } from "@curator/core"
import * as AnsiDoc from "@effect/printer-ansi/AnsiDoc"
import { Duration, Effect, Schedule, type Scope } from "effect"
import * as Format from "./Format.js"

/** One worker as the display tracks it. */
export interface WorkerState {
  readonly id: string
  /** The index it is on, or -1 when idle. */
  index: number
  /** When it took its index (or went idle), in display milliseconds. */
  sinceMs: number
  /** Indices it finished in this run. */
  finished: number
  /** The watchdog flagged its index as stalled. */
  stalled?: boolean
}

/** What the display knows of a run; updated in place by {@link update}. */
export interface State {
  started: boolean
  /** When the run started, in display milliseconds (`performance.now()`). */
  startedAtMs: number
  total: number
  /** Indices taken from the checkpoint. */
  cached: number
  /** Indices the run skipped because they are quarantined (not computed; failed in the run's outcome). */
  quarantined: number
  /** Indices computed and completed in this run. */
  completed: number
  failed: number
  /** Indices the watchdog flagged as stalled (FailurePolicy.stallAfter) while they ran. */
  stalled: number
  backend: string
  concurrency: number
  location: string | undefined
  /** Set when a graceful stop was asked for (Ctrl-C): the display then says so until the run ends. */
  stopping: { readonly signal: string; readonly atMs: number; readonly graceS: number } | undefined
  /** Workers in the order they first took an index. */
  readonly workers: Array<WorkerState>
  readonly byId: Map<string, WorkerState>
}

/** A display state before the run starts. */
export const makeState = (): State => ({
  started: false,
  startedAtMs: 0,
  total: 0,
  cached: 0,
  quarantined: 0,
  completed: 0,
  failed: 0,
  stalled: 0,
  backend: "",
  concurrency: 0,
  location: undefined,
  stopping: undefined,
  workers: [],
  byId: new Map()
})

/** Applies one event at time `nowMs`: constant time, allocating only when a worker first appears. */
export const update = (state: State, event: Progress.ProgressEvent, nowMs: number): void => {
  switch (event._tag) {
    case "IndexStalled": {
      state.stalled++
      const worker = state.byId.get(event.workerId)
      if (worker !== undefined && worker.index === event.index) worker.stalled = true
      return
    }
    case "RunStarted": {
      state.started = true
      state.startedAtMs = nowMs
      state.total = event.total
      state.cached = event.cached
      state.quarantined = event.quarantined ?? 0
      state.backend = event.backend
      state.concurrency = event.concurrency
      state.location = event.location
      return
    }
    case "IndexStarted": {
      let worker = state.byId.get(event.workerId)
      if (worker === undefined) {
        worker = { id: event.workerId, index: event.index, sinceMs: nowMs, finished: 0 }
        state.byId.set(event.workerId, worker)
        state.workers.push(worker)
      }
      worker.index = event.index
      worker.sinceMs = nowMs
      worker.stalled = false
      return
    }
    case "IndexFinished": {
      if (event.status === "completed") state.completed++
      else state.failed++
      const worker = state.byId.get(event.workerId)
      if (worker !== undefined) {
        worker.index = -1
        worker.sinceMs = nowMs
        worker.finished++
        worker.stalled = false
      }
      return
    }
  }
}

/** Records that a graceful stop was asked for at `nowMs`: no new index; those in flight may take `graceS` seconds. */
export const markStopping = (state: State, signal: string, graceS: number, nowMs: number): void => {
  state.stopping ??= { signal, atMs: nowMs, graceS }
}

/** The indices in flight (a worker on an index). */
const inFlight = (state: State): number => state.workers.reduce((busy, worker) => busy + (worker.index >= 0 ? 1 : 0), 0)

/** What a stopping run shows, in lines short enough for 80 columns. */
export const stoppingLines = (state: State, nowMs: number): ReadonlyArray<string> => {
  const stopping = state.stopping
  if (stopping === undefined) return []
  const left = Math.max(0, stopping.graceS - (nowMs - stopping.atMs) / 1000)
  const busy = inFlight(state)
  return [
    `stopping (${stopping.signal}): no new index; ${busy} in flight may finish, ${Format.duration(left)} left`,
    `press Ctrl-C again to stop at once`
  ]
}

/** A progress handler feeding `state`, reading the time from `clock` (milliseconds). */
export const handler = (state: State, clock: () => number = () => performance.now()): Progress.ProgressHandler => (event) =>
  update(state, event, clock())

/** The numbers every rendering shows, derived from the state at `nowMs`. */
export interface Figures {
  readonly total: number
  readonly completed: number
  readonly failed: number
  readonly cached: number
  /** Skipped as quarantined: not left to do, shown apart from the failed. */
  readonly quarantined: number
  /** Workers on an index the watchdog flagged as stalled, now. */
  readonly stalled: number
  readonly remaining: number
  /** Done, failed and cached over total, 0..1 (1 for an empty run). */
  readonly fraction: number
  readonly elapsedS: number
  /** Indices computed per second in this run (completed or failed). */
  readonly ratePerS: number
  /** Seconds left at the current rate; undefined before there is a rate. */
  readonly etaS: number | undefined
}

/** Derives the figures of a state at `nowMs`. */
export const figures = (state: State, nowMs: number): Figures => {
  const processed = state.completed + state.failed
  const remaining = Math.max(0, state.total - processed - state.cached - state.quarantined)
  const elapsedS = state.started ? Math.max(0, nowMs - state.startedAtMs) / 1000 : 0
  const ratePerS = elapsedS > 0 ? processed / elapsedS : 0
  return {
    total: state.total,
    completed: state.completed,
    failed: state.failed,
    cached: state.cached,
    quarantined: state.quarantined,
    stalled: state.workers.reduce((stalled, worker) => stalled + (worker.index >= 0 && worker.stalled === true ? 1 : 0), 0),
    remaining,
    fraction: state.total === 0 ? 1 : (state.total - remaining) / state.total,
    elapsedS,
    ratePerS,
    etaS: remaining === 0 ? 0 : ratePerS > 0 ? remaining / ratePerS : undefined
  }
}

/** `, 2 quarantined, 1 stalled`: what a run with a failure policy adds to the counts, only when there is some. */
const policyCounts = (f: Figures) =>
  (f.quarantined > 0 ? `, ${f.quarantined} quarantined` : "") + (f.stalled > 0 ? `, ${f.stalled} stalled` : "")

const rate = (perS: number) => (perS >= 100 ? `${Math.round(perS)}/s` : perS >= 10 ? `${perS.toFixed(1)}/s` : `${perS.toFixed(2)}/s`)

const percent = (fraction: number) => `${Math.floor(fraction * 100)}%`

/** A bar of `width` cells, filled in proportion to `fraction`. */
export const bar = (fraction: number, width: number): string => {
  const filled = Math.max(0, Math.min(width, Math.floor(fraction * width)))
  return "█".repeat(filled) + "░".repeat(width - filled)
}

const clip = (line: string, columns: number) => (line.length <= columns ? line : line.slice(0, Math.max(0, columns - 1)) + "…")

/** How a live frame fits the terminal. */
export interface FrameOptions {
  /** The terminal's width: lines longer than this are cut, so that none wraps. */
  readonly columns: number
  /** The most worker lines shown; the rest are counted on one line. */
  readonly maxWorkers: number
  /** Leave out the worker lines (the last frame, once the run is over). */
  readonly final?: boolean
}

/**
 * The live display's frame at `nowMs`: the bar line, then one line per
 * worker (its index and for how long it has been on it, or idle).
 */
export const frame = (state: State, nowMs: number, options: FrameOptions): ReadonlyArray<string> => {
  const f = figures(state, nowMs)
  const when = options.final === true ? `in ${Format.duration(f.elapsedS)}` : `ETA ${f.etaS === undefined ? "-" : Format.duration(f.etaS)}`
  // From the fullest to the shortest text: the first that leaves the bar 10 cells is used, so that the
  // ETA keeps its unit on an 80-column terminal.
  const texts = [
    [`${percent(f.fraction).padStart(4)} ${f.total - f.remaining}/${f.total}`, `${f.completed} done, ${f.failed} failed${policyCounts(f)}, ${f.cached} cached, ${f.remaining} left`, rate(f.ratePerS), when],
    [`${percent(f.fraction).padStart(4)} ${f.total - f.remaining}/${f.total}`, `${f.failed} failed${policyCounts(f)}, ${f.cached} cached`, rate(f.ratePerS), when],
    [`${percent(f.fraction).padStart(4)} ${f.total - f.remaining}/${f.total}`, when],
    [percent(f.fraction).padStart(4), when]
  ].map((parts) => parts.join(" · "))
  const minBar = 10
  const text = texts.find((candidate) => candidate.length + 1 + minBar <= options.columns) ?? texts[texts.length - 1]!
  // The bar takes what the terminal has left, within reason.
  const head = `${bar(f.fraction, Math.max(minBar, Math.min(30, options.columns - text.length - 1)))} ${text}`
  const lines = [clip(head, options.columns)]
  if (options.final === true) return lines
  for (const stopping of stoppingLines(state, nowMs)) lines.push(clip(stopping, options.columns))
  const shown = state.workers.length > options.maxWorkers ? Math.max(0, options.maxWorkers - 1) : state.workers.length
  for (let w = 0; w < shown; w++) {
    const worker = state.workers[w]!
    const label = `  worker ${String(w + 1).padStart(String(state.workers.length).length)} ${worker.id.slice(0, 8)}`
    const doing = worker.index < 0
      ? `idle (${worker.finished} done)`
      : `index ${worker.index} for ${Format.duration(Math.max(0, nowMs - worker.sinceMs) / 1000)}${worker.stalled === true ? " (stalled)" : ""}`
    lines.push(clip(`${label}  ${doing}`, options.columns))
  }
  if (shown < state.workers.length) {
    const rest = state.workers.slice(shown)
    const busy = rest.filter((worker) => worker.index >= 0).length
    lines.push(clip(`  … ${rest.length} more workers (${busy} busy)`, options.columns))
  }
  return lines
}

/** The non-terminal progress line at `nowMs`, e.g. `progress: 45% 450/1000 · 430 done, 5 failed, … · ETA 4.5 s · elapsed 3.6 s`. */
export const line = (state: State, nowMs: number): string => {
  const f = figures(state, nowMs)
  return [
    `progress: ${percent(f.fraction)} ${f.total - f.remaining}/${f.total}`,
    `${f.completed} done, ${f.failed} failed${policyCounts(f)}, ${f.cached} cached, ${f.remaining} left`,
    rate(f.ratePerS),
    `ETA ${f.etaS === undefined ? "-" : Format.duration(f.etaS)}`,
    `elapsed ${Format.duration(f.elapsedS)}`
  ].join(" · ")
}

/** Where and how the display draws. */
export interface Options {
  /** The stream drawn on. */
  readonly stream: NodeJS.WriteStream
  /** `live` redraws a frame in place (a terminal); `plain` prints a line now and then; `off` draws nothing. */
  readonly mode: "live" | "plain" | "off"
  /** Time between frames (live; default 200 ms) or lines (plain; default 5 s). */
  readonly interval?: Duration.DurationInput | undefined
}

const control = (doc: AnsiDoc.AnsiDoc) => AnsiDoc.render(doc, { style: "pretty" })

const hideCursor = control(AnsiDoc.cursorHide)
const showCursor = control(AnsiDoc.cursorShow)

/** The live-display mode for a stream: `live` on a terminal, else `plain`; `off` when quiet. */
export const modeFor = (stream: NodeJS.WriteStream, quiet: boolean): Options["mode"] =>
  quiet ? "off" : stream.isTTY === true ? "live" : "plain"

/**
 * Starts drawing for the scope and returns the handler to give the run
 * (undefined when the mode is `off`). When the scope closes, a live
 * display draws its final frame (the bar alone) and shows the cursor again.
 */
export const start = (
  state: State,
  options: Options
): Effect.Effect<Progress.ProgressHandler | undefined, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (options.mode === "off") return undefined
    const stream = options.stream
    const now = () => performance.now()
    if (options.mode === "plain") {
      const interval = Duration.decode(options.interval ?? "5 seconds")
      const print = Effect.sync(() => {
        if (state.started) stream.write(line(state, now()) + "\n")
      })
      yield* Effect.forkScoped(Effect.zipRight(Effect.sleep(interval), Effect.repeat(print, Schedule.spaced(interval))))
      return handler(state, now)
    }
    const interval = Duration.decode(options.interval ?? "200 millis")
    let drawn = 0
    const draw = (final: boolean) => {
      if (!state.started) return
      const lines = frame(state, now(), {
        // A terminal of unknown size reports 0 columns and rows.
        columns: Math.max(20, stream.columns || 80),
        maxWorkers: Math.max(1, Math.min(16, (stream.rows || 24) - 4)),
        final
      })
      const erase = drawn > 0 ? control(AnsiDoc.eraseLines(drawn)) : ""
      stream.write(erase + lines.join("\n") + (final ? "\n" : ""))
      drawn = final ? 0 : lines.length
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => stream.write(hideCursor)),
      () =>
        Effect.sync(() => {
          draw(true)
          stream.write(showCursor)
        })
    )
    yield* Effect.forkScoped(Effect.repeat(Effect.sync(() => draw(false)), Schedule.spaced(interval)))
    return handler(state, now)
  })
