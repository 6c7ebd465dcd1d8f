/**
 * The journal (see ./journal/store.ts): its records (types), schema, store (the Journal class: SQLite
 * I/O), resume policy, the re-check of unconfirmed uploads at the destination, and the lock.
 */
export * from "./journal/types.js";
export { resumeStep, type ResumeStep } from "./journal/resume.js";
export { Journal, MARK_AHEAD } from "./journal/store.js";
export { recheckTime, recheckUncertain } from "./journal/uncertain.js";
export { openReportSource } from "./journal/open.js";
