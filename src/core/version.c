/* version.c — owns the version string; FW_GIT_COMMIT is injected by the Makefile. */
#include "flywheel.h"

#ifndef FW_GIT_COMMIT
#define FW_GIT_COMMIT "unknown"
#endif

const char *fw_version(void) { return FW_VERSION_STRING " (" FW_GIT_COMMIT ")"; }
