/**
 * The server secret of stores a test opens itself (the store encrypts webhook secrets under a
 * key derived from it). A service process a test starts gets its own, from TOCSIN_SECRET or
 * its data directory; a test sharing a database with one passes that one instead.
 */
export const testServerSecret = 'test-server-secret-0123456789';
