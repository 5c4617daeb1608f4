/*
 * ctype.h — character classes for the "C" locale (ASCII only), as inline functions.
 */
#ifndef PVM_CTYPE_H
#define PVM_CTYPE_H

/** Decimal digit '0'..'9'. */
static inline int isdigit(int c) { return (unsigned)c - '0' < 10; }
/** 'a'..'z'. */
static inline int islower(int c) { return (unsigned)c - 'a' < 26; }
/** 'A'..'Z'. */
static inline int isupper(int c) { return (unsigned)c - 'A' < 26; }
/** A letter. */
static inline int isalpha(int c) { return islower(c) || isupper(c); }
/** A letter or a digit. */
static inline int isalnum(int c) { return isalpha(c) || isdigit(c); }
/** A hexadecimal digit. */
static inline int isxdigit(int c) { return isdigit(c) || (unsigned)(c | 32) - 'a' < 6; }
/** Space, \t, \n, \v, \f or \r. */
static inline int isspace(int c) { return c == ' ' || (unsigned)c - '\t' < 5; }
/** A printable character, space included. */
static inline int isprint(int c) { return (unsigned)c - 0x20 < 0x5f; }
/** A printable character other than space. */
static inline int isgraph(int c) { return (unsigned)c - 0x21 < 0x5e; }
/** A printable character that is not a letter, digit or space. */
static inline int ispunct(int c) { return isgraph(c) && !isalnum(c); }
/** A control character. */
static inline int iscntrl(int c) { return (unsigned)c < 0x20 || c == 0x7f; }
/** The upper-case letter for a lower-case one; other values unchanged. */
static inline int toupper(int c) { return islower(c) ? c - 32 : c; }
/** The lower-case letter for an upper-case one; other values unchanged. */
static inline int tolower(int c) { return isupper(c) ? c + 32 : c; }

#endif /* PVM_CTYPE_H */
