/* Declarations only (see include/CSkiffBoringSSL.h); SwiftPM needs one source file per C target. */
#include "CSkiffBoringSSL.h"
