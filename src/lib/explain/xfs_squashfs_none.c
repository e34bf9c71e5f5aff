/* SPDX-License-Identifier: MIT */
/* xfs_squashfs_none - built without libsquashfs: squashfs images are explained by offset ranges. */
#include "config.h"

#include "explain/xfs.h"

const bool zu_xfs_squashfs_built = false;

int zu_xfs_squashfs_read(int fd, uint64_t size, struct zu_xfs *out, struct zu_err *err)
{
	(void)fd;
	(void)size;
	(void)out;
	(void)err;
	return -ENOTSUP;
}
