/*
 * xg/xg.h - everything libxg offers, in one include.
 */
#ifndef XG_XG_H
#define XG_XG_H

#include "xg/diag.h"
#include "xg/pagetype.h"
#include "xg/stream.h"

#endif
