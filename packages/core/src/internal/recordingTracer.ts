/**
 * Spans across a thread or process boundary. Where an index is computed
 * elsewhere, it runs under a recording root span of its own; a recording
 * tracer keeps every span opened below it (its stages', the user's code
 * inside them) in that root's list. The report carries them back and the
 * parent replays them under its `curator.index` span through its own
 * tracer, so they are exported as if they had run there.
 */
import { Context, Effect, Exit, Option, type Tracer } from "effect"

/** A finished span, as recorded where the index ran. */
export interface RecordedSpan {
  readonly id: string
  /** The recorded span it is a child of; null for a child of the index's span. */
  readonly parent: string | null
  readonly name: string
  readonly kind: Tracer.SpanKind
  readonly startNanos: bigint
  readonly endNanos: bigint
  readonly attributes: ReadonlyArray<readonly [string, string | number | boolean]>
  readonly failed: boolean
}

let nextId = 0

class RecordingSpan implements Tracer.Span {
  /** Where the spans below this one are kept: the root's list, inherited from the parent. */
  readonly record: Array<RecordedSpan> | undefined
  readonly _tag = "Span"
  readonly spanId: string
  readonly traceId = "recorded"
  readonly sampled = true
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  readonly links: Array<Tracer.SpanLink> = []
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    readonly kind: Tracer.SpanKind,
    startTime: bigint,
    record: Array<RecordedSpan> | undefined,
    private readonly isRoot = false
  ) {
    this.spanId = `r${++nextId}`
    this.status = { _tag: "Started", startTime }
    this.record = record ?? Option.getOrUndefined(parent_(this.parent))?.record
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>) {
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
    if (this.record === undefined || this.isRoot) return
    const parent = Option.getOrUndefined(parent_(this.parent))
    const attributes: Array<readonly [string, string | number | boolean]> = []
    for (const [key, value] of this.attributes) {
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") attributes.push([key, value])
    }
    this.record.push({
      id: this.spanId,
      parent: parent === undefined || parent.isRoot ? null : parent.spanId,
      name: this.name,
      kind: this.kind,
      startNanos: this.status.startTime,
      endNanos: endTime,
      attributes,
      failed: Exit.isFailure(exit)
    })
  }
  attribute(key: string, value: unknown) {
    this.attributes.set(key, value)
  }
  event() {}
  addLinks(links: ReadonlyArray<Tracer.SpanLink>) {
    this.links.push(...links)
  }
}

const parent_ = (parent: Option.Option<Tracer.AnySpan>): Option.Option<RecordingSpan> =>
  Option.filter(parent, (span): span is RecordingSpan => span instanceof RecordingSpan)

/** A tracer that records each span into the list of the recording root it descends from. */
export const recordingTracer: Tracer.Tracer = Effect.runSync(Effect.map(Effect.tracer, (base) =>
  ({
    ...base,
    span: (name, parent, context, _links, startTime, kind) => new RecordingSpan(name, parent, context, kind, startTime, undefined),
    context: (f) => f()
  }) satisfies Tracer.Tracer))

/**
 * Runs `effect` (one index) under a recording root of its own, with the
 * recording tracer, and returns what it produced with the spans opened
 * below the root, finished.
 */
export const recordSpans = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [A, ReadonlyArray<RecordedSpan>], E, R> =>
  Effect.suspend(() => {
    const spans: Array<RecordedSpan> = []
    const root = new RecordingSpan("curator.index", Option.none(), Context.empty(), "internal", 0n, spans, true)
    return effect.pipe(
      Effect.withParentSpan(root),
      Effect.withTracer(recordingTracer),
      Effect.map((value) => [value, spans] as const)
    )
  })

/** Replays recorded spans under the current span (the parent's index span), through the tracer in context. */
export const replaySpans = (spans: ReadonlyArray<RecordedSpan>): Effect.Effect<void> =>
  spans.length === 0 ? Effect.void : Effect.flatMap(Effect.currentSpan, (indexSpan) =>
    Effect.tracerWith((tracer) =>
      Effect.sync(() => {
        const replayed = new Map<string, Tracer.Span>()
        // Parents start before their children: replaying in start order finds each parent replayed.
        const ordered = [...spans].sort((a, b) => (a.startNanos < b.startNanos ? -1 : a.startNanos > b.startNanos ? 1 : 0))
        for (const recorded of ordered) {
          const parent: Tracer.AnySpan = (recorded.parent === null ? undefined : replayed.get(recorded.parent)) ?? indexSpan
          const span = tracer.span(recorded.name, Option.some(parent), parent.context, [], recorded.startNanos, recorded.kind)
          for (const [key, value] of recorded.attributes) span.attribute(key, value)
          span.end(recorded.endNanos, recorded.failed ? Exit.fail(recorded.name) : Exit.void)
          replayed.set(recorded.id, span)
        }
      })
    )).pipe(Effect.catchTag("NoSuchElementException", () => Effect.void))
