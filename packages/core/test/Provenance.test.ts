/**
 * Provenance: params must be plain JSON (checked when a component is built,
 * naming the component and the key), and the configuration hash is stable
 * across key order, sensitive to everything that identifies the data, blind
 * to run options — and its format is pinned by a known value.
 */
import { Filter, Pipeline, Provenance, Sink, Source } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { createHash } from "node:crypto"

const plainJson = "params must be plain JSON (null, booleans, finite numbers, strings, arrays and plain objects)"

/** What `build` throws; fails the test if it throws nothing. */
const thrownBy = (build: () => unknown): unknown => {
  try {
    build()
  } catch (error) {
    return error
  }
  throw new Error("expected the build to throw")
}

/** Bad params, cast past the type checker as untyped callers would pass them. */
const bad = (params: unknown) => params as Provenance.Params

describe("Provenance", () => {
  describe("params validation at build time", () => {
    const cycle = () => {
      const tree: Record<string, unknown> = { child: { name: "leaf" } }
      ;(tree.child as Record<string, unknown>).parent = tree
      return { tree }
    }
    const cases: ReadonlyArray<{
      readonly label: string
      readonly build: () => unknown
      readonly expected: { readonly component: string; readonly key: string; readonly reason: string }
    }> = [
      {
        label: "a function (Source.make)",
        build: () =>
          Source.make({ name: "Shards", params: bad({ nested: { fn: () => 1 } }), length: 1, read: () => Stream.empty }),
        expected: { component: "Shards", key: "nested.fn", reason: "is a function" }
      },
      {
        label: "a class instance: Date (Filter.make)",
        build: () => Filter.make({ name: "Parse", params: bad({ since: new Date(0) }), apply: (s: Stream.Stream<number>) => s }),
        expected: { component: "Parse", key: "since", reason: "is an instance of Date" }
      },
      {
        label: "a class instance: Map (Sink.make)",
        build: () =>
          Sink.make({ name: "Out", params: bad({ options: { index: new Map() } }), write: () => Effect.succeed([]) }),
        expected: { component: "Out", key: "options.index", reason: "is an instance of Map" }
      },
      {
        label: "NaN inside an array (Filter.map)",
        build: () => Filter.map({ name: "Weigh", params: bad({ weights: [1, Number.NaN] }), f: (n: number) => n }),
        expected: { component: "Weigh", key: "weights.1", reason: "is not a finite number" }
      },
      {
        label: "undefined (Source.fromArray)",
        build: () => Source.fromArray("Items", [1], bad({ limit: undefined })),
        expected: { component: "Items", key: "limit", reason: "is undefined" }
      },
      {
        label: "a cycle (Sink.fromItems)",
        build: () => Sink.fromItems({ name: "Tree", params: bad(cycle()), write: () => Effect.succeed([]) }),
        expected: { component: "Tree", key: "tree.child.parent", reason: "refers back to one of its parents (a cycle)" }
      },
      {
        label: "params that are not an object at all (Sink.drain)",
        build: () => Sink.drain({ name: "Drop", params: bad(new Map()), pathOf: () => [] }),
        expected: { component: "Drop", key: "(root)", reason: "is an instance of Map" }
      }
    ]
    for (const { build, expected, label } of cases) {
      it(`rejects ${label}, naming the component and the key path`, () => {
        const error = thrownBy(build)
        expect(error).toBeInstanceOf(Provenance.InvalidParams)
        expect(error).toMatchObject({ _tag: "InvalidParams", ...expected })
        expect((error as Error).message).toBe(`${expected.component}: params.${expected.key} ${expected.reason}; ${plainJson}`)
      })
    }

    it("accepts plain JSON, including objects without a prototype and shared (acyclic) references", () => {
      const shared = { unit: "m" }
      const bare = Object.assign(Object.create(null) as Record<string, Provenance.Json>, { k: 1 })
      const params = { a: [1, -2.5, "x", null, true, { b: [] }], left: shared, right: shared, bare }
      expect(Provenance.validateParams("Fine", params)).toEqual(params)
      expect(Source.fromArray("Items", [1], params).params).toEqual(params)
    })

    it("reports the first offending key directly through validateParams", () => {
      const error = thrownBy(() => Provenance.validateParams("Direct", { ok: 1, big: 10n, fn: () => 0 }))
      expect(error).toMatchObject({ component: "Direct", key: "big", reason: "is bigint" })
    })
  })

  describe("configuration hash", () => {
    interface Variant {
      readonly sourceName?: string
      readonly sourceParams?: Provenance.Params
      readonly filters?: ReadonlyArray<readonly [string, Provenance.Params]>
      readonly sinkName?: string
      readonly sinkParams?: Provenance.Params
    }
    const build = (variant: Variant = {}) => {
      const builder = Pipeline.from(Source.make({
        name: variant.sourceName ?? "Shards",
        params: variant.sourceParams ?? { dir: "/data", shards: 80, split: { train: 0.9, test: 0.1 } },
        length: 80,
        read: (index) => Stream.make(index)
      }))
      const filters = variant.filters ?? [["Parse", { strict: true }], ["Dedupe", { key: "id" }]]
      const filtered = filters.reduce(
        (acc, [name, params]) => Pipeline.filter(acc, Filter.map({ name, params, f: (n: number) => n })),
        builder
      )
      return Pipeline.write(filtered, Sink.drain({
        name: variant.sinkName ?? "Json",
        params: variant.sinkParams ?? { dir: "/out", indent: 2 },
        pathOf: () => []
      }))
    }

    it("is the same for the same configuration built twice, whatever the order of keys", () => {
      const a = build()
      const b = build({
        sourceParams: { split: { test: 0.1, train: 0.9 }, shards: 80, dir: "/data" },
        filters: [["Parse", { strict: true }], ["Dedupe", { key: "id" }]],
        sinkParams: { indent: 2, dir: "/out" }
      })
      expect(b.configHash).toBe(a.configHash)
      expect(Provenance.canonicalJson(b.config)).toBe(Provenance.canonicalJson(a.config))
      expect(Provenance.hash(a.config)).toBe(a.configHash)
    })

    it("changes with any param, any name, and the order of the filters", () => {
      const base = build()
      const variants: ReadonlyArray<readonly [string, Variant]> = [
        ["a source param", { sourceParams: { dir: "/data", shards: 81, split: { train: 0.9, test: 0.1 } } }],
        ["a nested source param", { sourceParams: { dir: "/data", shards: 80, split: { train: 0.8, test: 0.2 } } }],
        ["the source's name", { sourceName: "Shard" }],
        ["a filter param", { filters: [["Parse", { strict: false }], ["Dedupe", { key: "id" }]] }],
        ["a filter's name", { filters: [["Parse", { strict: true }], ["Unique", { key: "id" }]] }],
        ["the order of the filters", { filters: [["Dedupe", { key: "id" }], ["Parse", { strict: true }]] }],
        ["one filter fewer", { filters: [["Parse", { strict: true }]] }],
        ["a sink param", { sinkParams: { dir: "/out", indent: 4 } }],
        ["the sink's name", { sinkName: "Jsonl" }]
      ]
      const hashes = new Set([base.configHash])
      for (const [label, variant] of variants) {
        const changed = build(variant).configHash
        expect({ label, same: changed === base.configHash }).toEqual({ label, same: false })
        hashes.add(changed)
      }
      expect(hashes.size).toBe(variants.length + 1)
    })

    it("does not change with run options", () => {
      const pipeline = build()
      const changed = Pipeline.withOptions(pipeline, {
        resume: true,
        dbDir: "/tmp/elsewhere",
        dbFile: "/tmp/x.db",
        trackMetrics: false,
        trackMemory: false
      })
      expect(changed.configHash).toBe(pipeline.configHash)
      expect(Pipeline.write(Pipeline.from(pipeline.source), pipeline.sink, { resume: true }).configHash).toBe(
        Pipeline.write(Pipeline.from(pipeline.source), pipeline.sink).configHash
      )
    })

    it("has a known value for a small fixed configuration (RFC 8785 JSON, SHA-256 in hex)", () => {
      const pipeline = Pipeline.from(Source.make({
        name: "Numbers",
        params: { ratio: 0.5, length: 3 },
        length: 3,
        items: (index) => Effect.succeed([index])
      })).pipe(
        Pipeline.filter(Filter.map({ name: "Double", f: (n: number) => n * 2 })),
        Pipeline.write(Sink.drain({ name: "Out", params: { dir: "/out" }, pathOf: () => [] }))
      )
      // Keys sorted at every level, no whitespace, numbers in their shortest form.
      const canonical =
        "{\"filters\":[{\"name\":\"Double\",\"params\":{}}],\"sink\":{\"name\":\"Out\",\"params\":{\"dir\":\"/out\"}}," +
        "\"source\":{\"name\":\"Numbers\",\"params\":{\"length\":3,\"ratio\":0.5}}}"
      expect(Provenance.canonicalJson(pipeline.config)).toBe(canonical)
      expect(createHash("sha256").update(canonical, "utf8").digest("hex")).toBe(pipeline.configHash)
      expect(pipeline.configHash).toBe("42c04f317175798b88238b8e19163d90cb63f8fbd27acfaf48c96807ad33f3de")
    })
  })
})
