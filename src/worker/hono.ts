/**
 * The Worker's Hono: `hono/tiny`, the same class with one router (PatternRouter) instead of two
 * (RegExpRouter and TrieRouter), 2.6 KB gzipped less of the Worker's 60 KB budget. Its routes are
 * few and fixed, so the faster routers' gains do not show.
 * @module
 */
export { Hono } from "hono/tiny";
