/**
 * Text as the database stores it: well-formed Unicode, so that it encodes as
 * valid UTF-8. JavaScript strings may hold lone UTF-16 surrogates (halves of
 * a pair, e.g. from slicing an emoji); SQLite then stores bytes that are not
 * UTF-8, and readers such as the Python reference fail on the whole column.
 * (`String.prototype.toWellFormed` is ES2024: not in the library types this
 * project compiles against.)
 */

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** The text with every lone surrogate replaced by U+FFFD, the replacement character. */
export const wellFormed = (text: string): string => (anySurrogate.test(text) ? text.replace(loneSurrogate, "\uFFFD") : text)

// Most texts hold no surrogate at all: this plain scan settles them (the look-arounds above cost more).
const anySurrogate = /[\uD800-\uDFFF]/

/** The same text, or null. */
export const wellFormedOrNull = (text: string | null): string | null => (text === null ? null : wellFormed(text))
