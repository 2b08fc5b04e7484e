/*
 * banned: libc calls that make overflows easy are compile errors in zonedef's own code
 * (the idea is git's banned.h). Use snprintf, sbuf_* or xasprintf instead.
 * Included last by every .c file in src/ and cmd/ (after the system headers that declare them).
 */
#ifndef ZD_BANNED_H
#define ZD_BANNED_H

#define ZD_BANNED(func) sorry_##func##_is_banned_in_zonedef

#undef strcpy
#define strcpy(x, y) ZD_BANNED(strcpy)
#undef strcat
#define strcat(x, y) ZD_BANNED(strcat)
#undef sprintf
#define sprintf(...) ZD_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) ZD_BANNED(vsprintf)
#undef gets
#define gets(x) ZD_BANNED(gets)
#undef strtok
#define strtok(x, y) ZD_BANNED(strtok)

#endif
