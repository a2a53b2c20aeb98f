import { dashboard, resumeSet } from "../scale.js"
await resumeSet(process.argv[2]!)
await dashboard(process.argv[2]!, Number(process.argv[3]))
