/**
 * The dashboard in a real headless Chromium (Debian's package, driven by
 * playwright-core): `curator dashboard` serves a page that shows the counts
 * the store reports, opens an index, and shows markup from the database as
 * text; and while a `curator run` process writes slowly, an open page
 * updates its counts and its log tail without being reloaded. Each test
 * starts one `curator` process (the other side runs in the test) to keep
 * the suite short. Screenshots go to `test-results/`.
 */
import { Backend, Pipeline } from "@curator/core"
import { Effect, Exit, Layer, Logger, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import * as Dashboard from "../../src/Dashboard.js"
import * as SqliteCheckpointStore from "../../src/SqliteCheckpointStore.js"
import { makeBulkDatabase } from "../fixtures/bulkDatabase.js"
import { make, markupMessage, markupParam } from "../fixtures/dashboardPipelines.js"
import { withRaw } from "../helpers.js"
import { databases, makeSandbox, repoRoot, type Sandbox, start } from "./curator.js"

const chromiumPath = "/usr/bin/chromium"
const fixture = path.resolve(repoRoot, "packages/node/test/fixtures/dashboardPipelines.ts")
const screenshots = path.join(repoRoot, "test-results")

/** Flags for Chromium on a machine without a network or a display (and run as root in CI). */
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** Waits (polling) until `check` holds; fails saying what was awaited. */
const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Starts `curator dashboard <database> --port 0` and returns it with the URL it prints. */
const startDashboard = (database: string, env: Readonly<Record<string, string>>) =>
  new Promise<{ readonly child: ChildProcess; readonly url: string }>((resolve, reject) => {
    const child = start(["dashboard", database, "--port", "0"], { env })
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      const match = /at (http:\/\/\S+)/.exec(stdout)
      if (match !== null) resolve({ child, url: match[1]! })
    })
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("exit", (code) => reject(new Error(`curator dashboard exited with ${code} before serving\n${stdout}\n${stderr}`)))
  })

/** Interrupts a child as Ctrl-C would and waits for it to exit; its exit code. */
const interrupt = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode)
    child.on("exit", (code) => resolve(code))
    child.kill("SIGINT")
  })

const text = (page: Page, selector: string) => page.locator(selector).innerText()

const children: Array<ChildProcess> = []
const scopes: Array<Scope.CloseableScope> = []
const sandboxes: Array<Sandbox> = []
let browser: Browser

/** A sandbox whose environment also points the dashboard fixture at it. */
const sandboxFor = (extra: Record<string, string>) => {
  const sandbox = makeSandbox()
  sandboxes.push(sandbox)
  return { sandbox, env: { ...sandbox.env, CURATOR_DASH_OUT: sandbox.out, ...extra } }
}

describe.skipIf(!fs.existsSync(chromiumPath))(`curator dashboard in Chromium (${chromiumPath})`, () => {
  beforeAll(async () => {
    fs.mkdirSync(screenshots, { recursive: true })
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs })
  })

  afterAll(async () => {
    await browser?.close()
    await Promise.all(children.map(interrupt))
    for (const scope of scopes) await Effect.runPromise(Scope.close(scope, Exit.void))
    for (const sandbox of sandboxes) sandbox.remove()
  })

  /**
   * A new page that records script errors, console errors (CSP violations
   * are reported there) and any request to another origin (all assets must
   * come from the dashboard itself).
   */
  const openPage = async (url: string) => {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } })
    const problems: Array<string> = []
    page.on("request", (request) => {
      if (!request.url().startsWith(url) && !request.url().startsWith("data:")) problems.push(`request elsewhere: ${request.url()}`)
    })
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
    page.on("console", (message) => {
      // The browser reports the 400 of a deliberately malformed query; anything else is a problem.
      if (message.type() === "error" && !message.text().includes("status of 400")) problems.push(`console: ${message.text()}`)
    })
    await page.goto(url)
    return { page, problems }
  }

  it("shows the store's counts, opens an index, renders database strings as text, draws the charts", async () => {
    const { env, sandbox } = sandboxFor({})
    const pipeline = make({ out: sandbox.out, n: 12 }).pipe(Pipeline.withOptions({ resume: true, dbDir: sandbox.cache }))
    const { database, summary } = await Effect.runPromise(Effect.gen(function*() {
      const result = yield* Pipeline.run(pipeline, { concurrency: 2 })
      const checkpoint = yield* SqliteCheckpointStore.openFile(result.location!)
      return { database: result.location!, summary: yield* checkpoint.summary }
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(SqliteCheckpointStore.layer(), Backend.layerFibers, Logger.remove(Logger.defaultLogger)))
    ))
    expect(summary).toMatchObject({ total: 12, completed: 9, failed: 3 })

    const dashboard = await startDashboard(database, env)
    children.push(dashboard.child)
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    const { page, problems } = await openPage(dashboard.url)

    await page.locator("#card-completed", { hasText: String(summary.completed) }).waitFor()
    expect(await text(page, "#card-failed")).toBe(String(summary.failed))
    expect(await text(page, "#card-remaining")).toBe(String(summary.remaining))
    expect(await text(page, "#card-total")).toBe(String(summary.total))
    // No index of this run is quarantined; the card says so rather than staying empty.
    expect(await text(page, "#card-quarantined")).toBe("0")
    expect(await text(page, "#db-path")).toBe(database)
    await page.locator("#latest-errors tbody tr").first().waitFor()
    expect(await page.locator("#latest-errors tbody tr").count()).toBe(3)

    // Markup recorded in a param shows as text, and never runs.
    // Params are shown as JSON, so the markup appears with its quotes escaped.
    expect(await page.locator("#pipeline").textContent()).toContain(JSON.stringify(markupParam))
    expect(await page.locator("#pipeline script, #pipeline img").count()).toBe(0)
    await page.screenshot({ path: path.join(screenshots, "dashboard-overview.png"), fullPage: true })

    // The index browser: a malformed range is answered with the server's message.
    await page.click("nav button[data-tab=indices]")
    await page.fill("#index-query input[name=range]", "9-3")
    await page.click("#index-query button[type=submit]")
    await page.locator("#index-query-error", { hasText: "ends before it starts" }).waitFor()
    await page.fill("#index-query input[name=range]", "0-4")
    await page.selectOption("#index-query select[name=status]", "all")
    await page.click("#index-query button[type=submit]")
    await page.locator("#page-info", { hasText: "(5 indices)" }).waitFor()
    await page.click("#indices tr[data-index='3']")
    await page.locator("#detail-facts dd[data-fact=error]", { hasText: "BadIndex: index 3 is bad" }).waitFor()
    // The stage it failed in, in its detail and in its row.
    expect(await text(page, "#detail-facts dd[data-fact='failed in']")).toBe("Square")
    expect(await text(page, "#indices tr[data-index='3'] td:nth-child(6)")).toBe("Square")
    await page.click("#indices tr[data-index='2']")
    await page.locator("#detail-outputs", { hasText: path.join(sandbox.out, "squares") }).waitFor()
    expect(await text(page, "#detail-artifacts")).toContain(path.join(sandbox.out, "artifacts", "2.txt"))
    expect(await page.locator("#detail-stages tbody tr").count()).toBe(3)
    await page.screenshot({ path: path.join(screenshots, "dashboard-index.png"), fullPage: true })

    // A log message holding markup shows as text in the index's log lines.
    await page.click("#indices tr[data-index='1']")
    await page.locator("#detail-logs", { hasText: markupMessage }).waitFor()
    expect(await page.locator("#detail-logs img, #detail-logs script").count()).toBe(0)

    // Every index and tab has its own URL: Back returns to the index before, a shared link opens its index.
    expect(new URL(page.url()).hash).toBe("#index/1")
    await page.goBack()
    await page.locator("#detail-index", { hasText: /^2$/ }).waitFor()
    expect(new URL(page.url()).hash).toBe("#index/2")
    const shared = await browser.newPage({ viewport: { width: 1300, height: 1000 } })
    await shared.goto(`${dashboard.url}#index/3`)
    await shared.locator("#detail-facts dd[data-fact=error]", { hasText: "BadIndex: index 3 is bad" }).waitFor()
    expect(await shared.locator("#tab-indices").isVisible()).toBe(true)
    await shared.close()

    // The logs tab, filtered by level.
    await page.click("nav button[data-tab=logs]")
    await page.selectOption("#log-query select[name=level]", "warning")
    await page.click("#log-query button[type=submit]")
    await page.locator("#logs tbody", { hasText: markupMessage }).waitFor()
    const levels = await page.locator("#logs tbody tr td:nth-child(2)").allInnerTexts()
    expect(levels.length).toBeGreaterThan(0)
    expect(levels.every((level) => ["WARNING", "ERROR", "CRITICAL"].includes(level))).toBe(true)
    expect(await page.locator("#logs img, #logs script").count()).toBe(0)
    expect(new URL(page.url()).hash).toBe("#logs")
    // Following scrolls the lines inside their box: the filter form stays in view.
    expect(await page.locator("#log-query").isVisible()).toBe(true)
    expect(await page.evaluate(() => (globalThis as any).document.querySelector("#log-query").getBoundingClientRect().bottom > 0)).toBe(true)

    // Performance: the charts hold one point per recorded index, and the slowest ten are listed.
    await page.click("nav button[data-tab=performance]")
    await page.locator("#slowest tbody tr").nth(9).waitFor()
    const plotted = await page.evaluate(() => {
      const chart = (globalThis as any).Chart.getChart("chart-wall")
      return chart.data.datasets.map((d: any) => d.data.length)
    })
    expect(plotted).toEqual([9, 3])
    expect(await page.locator("#stage-stats tbody tr").count()).toBe(3)
    await page.screenshot({ path: path.join(screenshots, "dashboard-performance.png"), fullPage: true })

    expect(await page.evaluate(() => (globalThis as any).__injected)).toBeUndefined()
    expect(problems).toEqual([])
    await page.close()
    expect(await interrupt(dashboard.child)).toBe(130)
  }, 90_000)

  it("on a 200,000-index database, all four tabs render with numbers and an index near the end opens", async () => {
    const { env, sandbox } = sandboxFor({})
    const n = 200_000
    // Bulk SQL after one index through the real writer: every 250th index failed (800 of them).
    const database = await Effect.runPromise(makeBulkDatabase({ n, dbDir: sandbox.cache }))
    const dashboard = await startDashboard(database, env)
    children.push(dashboard.child)
    const { page, problems } = await openPage(dashboard.url)

    await page.locator("#card-total", { hasText: String(n) }).waitFor({ timeout: 60_000 })
    expect(await text(page, "#card-completed")).toBe(String(n - 800))
    expect(await text(page, "#card-failed")).toBe("800")
    expect(await text(page, "#card-remaining")).toBe("0")
    await page.locator("#latest-errors tbody tr").first().waitFor()
    expect(await page.locator("#latest-errors tbody tr").count()).toBe(10)

    await page.click("nav button[data-tab=indices]")
    await page.fill("#index-query input[name=range]", "199990-199999")
    await page.click("#index-query button[type=submit]")
    await page.locator("#page-info", { hasText: "(10 indices)" }).waitFor()
    await page.click("#indices tr[data-index='199998']")
    await page.locator("#detail-outputs", { hasText: "/bulk/out/199998.json" }).waitFor()
    expect(await page.locator("#detail-stages tbody tr").count()).toBe(3)
    await page.click("#indices tr[data-index='199999']")
    await page.locator("#detail-facts dd[data-fact=error]", { hasText: "Boom: index 199999 is bad" }).waitFor()

    await page.click("nav button[data-tab=performance]")
    await page.locator("#slowest tbody tr").nth(9).waitFor()
    const plotted = await page.evaluate(() =>
      (globalThis as any).Chart.getChart("chart-wall").data.datasets.map((d: any) => d.data.length))
    // Downsampled by the query: at most 300 runs of consecutive indices per status.
    expect(plotted[0]).toBeGreaterThan(100)
    expect(plotted[0]).toBeLessThanOrEqual(300)
    expect(plotted[1]).toBeGreaterThan(100)
    expect(await page.locator("#stage-stats tbody tr").count()).toBe(3)

    await page.click("nav button[data-tab=logs]")
    await page.selectOption("#log-query select[name=level]", "warning")
    await page.click("#log-query button[type=submit]")
    // The unfiltered tail holds that line too: wait for the filtered table itself (only WARNING rows).
    const levels = () => page.locator("#logs tbody tr td:nth-child(2)").allInnerTexts()
    await until("the log table filtered to warnings", async () => {
      const shown = await levels()
      return shown.length > 0 && shown.every((level) => level === "WARNING")
    })
    await page.locator("#logs tbody tr", { hasText: "squared 199900" }).waitFor()
    await page.screenshot({ path: path.join(screenshots, "dashboard-200k.png"), fullPage: true })

    expect(problems).toEqual([])
    await page.close()
    expect(await interrupt(dashboard.child)).toBe(130)
  }, 180_000)

  it("while a slow run writes, the open page's counts and log tail grow without a reload", async () => {
    const { env, sandbox } = sandboxFor({ CURATOR_DASH_N: "1000", CURATOR_DASH_DELAY_MS: "100" })
    const run = start(["run", fixture, "--resume", "--concurrency", "1"], { env })
    children.push(run)
    let database = ""
    await until("the run to record its first index", () => {
      const [file] = databases(sandbox.cache)
      if (file === undefined) return false
      database = path.join(sandbox.cache, file)
      try {
        return withRaw(database, (db) => (db.prepare("SELECT COUNT(*) AS n FROM index_results").get() as { n: number }).n > 0, {
          readonly: true
        })
      } catch {
        return false // the tables are not there yet
      }
    })

    // The dashboard in this process reads the file that the run's process writes.
    const served = Effect.runSync(Scope.make())
    scopes.push(served)
    const { url } = await Effect.runPromise(Scope.extend(
      Effect.flatMap(SqliteCheckpointStore.openFile(database), (checkpoint) => Dashboard.serve(checkpoint, { port: 0 })),
      served
    ))
    const { page, problems } = await openPage(url)
    await page.locator("#live", { hasText: "live" }).waitFor()
    await page.waitForFunction(() => /^\d+$/.test((globalThis as any).document.getElementById("card-completed").textContent))
    const first = Number(await text(page, "#card-completed"))
    await page.evaluate(() => ((globalThis as any).__samePage = true))

    await page.waitForFunction((seen) => Number((globalThis as any).document.getElementById("card-completed").textContent) >= seen + 3, first, {
      timeout: 30_000
    })
    await page.screenshot({ path: path.join(screenshots, "dashboard-live.png"), fullPage: true })

    await page.click("nav button[data-tab=logs]")
    await page.locator("#logs tbody tr").first().waitFor()
    const lastLine = () => page.locator("#logs tbody tr:last-child td.message").innerText()
    const before = await lastLine()
    await page.waitForFunction((line) => {
      const rows = (globalThis as any).document.querySelectorAll("#logs tbody tr td.message")
      return rows.length > 0 && rows[rows.length - 1].textContent !== line
    }, before, { timeout: 30_000 })

    expect(await page.evaluate(() => (globalThis as any).__samePage)).toBe(true)
    expect(problems).toEqual([])
    await page.close()
    expect(await interrupt(run)).toBe(130)
  }, 90_000)
})
