/**
 * How long any of the core's connections (the writer, the search workers', the checkpoint
 * thread's) waits on a lock held by another before failing, in ms. Its own module so the
 * threads can import it without loading the migrations.
 */
export const BUSY_TIMEOUT_MS = 5000;
