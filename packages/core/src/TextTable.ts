/**
 * Aligned text tables for a terminal: a header, a rule of dashes, one line
 * per row; columns two spaces apart, each as wide as its widest cell,
 * padded on the right (or on the left for the columns listed as `right`,
 * numbers), no trailing spaces. `Metrics.toTable` and every listing of the
 * `curator` command line use this one renderer.
 */

/** The table as lines joined with newlines (no final newline). */
export const render = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  right: ReadonlyArray<number> = []
): string => {
  // A reduce, not a spread: a listing may have more rows than a call has room for arguments.
  const widths = header.map((h, c) => rows.reduce((width, row) => Math.max(width, (row[c] ?? "").length), h.length))
  const line = (cells: ReadonlyArray<string>) =>
    header.map((_, c) => {
      const cell = cells[c] ?? ""
      return right.includes(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)
    }).join("  ").trimEnd()
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n")
}
