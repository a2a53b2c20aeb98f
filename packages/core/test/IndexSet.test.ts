/**
 * IndexSet: membership, size and ascending iteration agree with a plain
 * `Set` on random data, across word boundaries and growth; words added as
 * SQL sums (possibly negative from PostgreSQL, or above 2^31 from SQLite)
 * mean the same bits.
 */
import { IndexSet } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"

/** A deterministic generator, so that a failure can be replayed. */
const random = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31
  return seed / 2 ** 31
}

describe("IndexSet", () => {
  it("agrees with Set on has, size and sorted iteration for random indices", () => {
    const next = random(7)
    const reference = new Set<number>()
    const set = IndexSet.empty()
    for (let k = 0; k < 20_000; k++) {
      const index = Math.floor(next() * 100_000)
      expect(set.add(index)).toBe(!reference.has(index))
      reference.add(index)
    }
    expect(set.size).toBe(reference.size)
    expect([...set]).toEqual([...reference].sort((a, b) => a - b))
    for (let index = 0; index < 100_100; index += 37) expect(set.has(index)).toBe(reference.has(index))
    expect(set.has(-1)).toBe(false)
    expect(set.has(1.5)).toBe(false)
    expect(set.has(10 ** 9)).toBe(false)
  })

  it("handles the word edges 0, 31, 32 and 63, and indices far beyond the current size", () => {
    const set = IndexSet.fromIndices([63, 0, 32, 31, 1_000_000])
    expect([...set]).toEqual([0, 31, 32, 63, 1_000_000])
    expect(set.size).toBe(5)
    expect([...set.valuesFrom(32)]).toEqual([32, 63, 1_000_000])
    expect([...set.valuesFrom(33)]).toEqual([63, 1_000_000])
    expect(set.countIn(0, 63)).toBe(4)
    expect(set.countIn(31, 32)).toBe(2)
    expect(set.countIn(1, 30)).toBe(0)
    expect(set.countIn(0, 2_000_000)).toBe(5)
  })

  it("addWord sets the bits of a word as a sum of distinct powers of two, whatever its sign", () => {
    const set = IndexSet.empty()
    set.addWord(0, 2 ** 31 + 1) // SQLite: a positive 64-bit sum
    set.addWord(2, -2147483648 + 4) // PostgreSQL int4 shifts: bit 31 is negative
    set.addWord(1, 0)
    expect([...set]).toEqual([0, 31, 66, 95])
    expect(set.size).toBe(4)
    set.addWord(0, 1) // already there: no double count
    expect(set.size).toBe(4)
  })

  it("rejects what is not an index", () => {
    expect(() => IndexSet.empty().add(-1)).toThrow(RangeError)
    expect(() => IndexSet.empty().add(2.5)).toThrow(RangeError)
  })

  it("holds a million indices and iterates them in order", () => {
    const set = IndexSet.empty()
    for (let index = 0; index < 1_000_000; index++) set.add(index)
    expect(set.size).toBe(1_000_000)
    let expected = 0
    for (const index of set) {
      if (index !== expected) throw new Error(`expected ${expected}, got ${index}`)
      expected++
    }
    expect(expected).toBe(1_000_000)
  })
})
