/* SPDX-License-Identifier: MIT */
/* xfs_ext4_none - built without libext2fs: ext2/3/4 images are explained by offset ranges. */
#include "config.h"

#include "explain/xfs.h"

const bool zu_xfs_ext4_built = false;

int zu_xfs_ext4_read(int fd, uint64_t size, struct zu_xfs *out, struct zu_err *err)
{
	(void)fd;
	(void)size;
	(void)out;
	(void)err;
	return -ENOTSUP;
}
