/* SPDX-License-Identifier: MIT */
/*
 * explain_dpkg - same package version, other bytes (explain_dpkg.h). The
 * status file gives each installed package's version; info/PKG.list (or
 * PKG:ARCH.list) the paths it owns. A file the comparison called changed,
 * owned by a package whose version is the same in both images, is listed.
 */
#include "config.h"

#include "explain/explain_dpkg.h"

#include <stdlib.h>
#include <string.h>

#include "io.h"

#define XD_STATUS "/var/lib/dpkg/status"
#define XD_INFO "/var/lib/dpkg/info/"
#define XD_STATUS_MAX (64u << 20)
#define XD_LIST_MAX (16u << 20)

struct xd_pkg {
	char *name;      /* "foo" or "foo:amd64" as in the .list file name */
	char *version;
};

struct xd_db {
	struct xd_pkg *pkgs;
	size_t n_pkgs, cap_pkgs;
};

struct xd_owner {
	const char *path; /* borrowed from the .list buffers */
	size_t pkg;
};

/* A file's content, when its extents hold it as is (and it is small enough). */
static int xd_content(const struct zu_xfs *x, int fd, const struct zu_xfs_file *f, size_t max,
		      char **out, size_t *out_len, struct zu_err *err)
{
	uint64_t left = f->size, at = 0;
	char *buf;
	int r = 0;

	*out = NULL;
	if (f->content) {
		left = f->content_len;
	} else if (!x->raw_extents || !f->ext_contiguous || f->data_len != f->size) {
		return 0; /* compressed, or holes: not readable this way */
	}
	if (left > max)
		return 0;
	buf = malloc((size_t)left + 1);
	if (!buf)
		return zu_err_set(err, -ENOMEM, "out of memory");
	if (f->content)
		memcpy(buf, f->content, (size_t)left);
	for (size_t i = 0; !f->content && r == 0 && i < f->n_ext && at < left; i++) {
		const struct zu_xfs_extent *e = &x->ext[f->first_ext + i];
		uint64_t n = e->len < left - at ? e->len : left - at;

		r = zu_io_pread_full(fd, buf + at, (size_t)n, e->off, err);
		at += n;
	}
	if (r < 0 || (!f->content && at != left)) {
		free(buf);
		return r;
	}
	buf[left] = 0;
	*out = buf;
	*out_len = (size_t)left;
	return 0;
}

static const struct zu_xfs_file *xd_file(const struct zu_xfs *x, const char *path)
{
	for (size_t i = 0; x && x->type && i < x->n_files; i++)
		if (x->files[i].kind == ZU_XFS_FILE && !strcmp(x->files[i].path, path))
			return &x->files[i];
	return NULL;
}

static int xd_add_pkg(struct xd_db *db, const char *name, size_t nlen, const char *arch,
		      size_t alen, const char *ver, size_t vlen, struct zu_err *err)
{
	struct xd_pkg *p;

	if (db->n_pkgs == db->cap_pkgs) {
		size_t cap = db->cap_pkgs ? 2 * db->cap_pkgs : 256;
		void *q = realloc(db->pkgs, cap * sizeof(*db->pkgs));

		if (!q)
			return zu_err_set(err, -ENOMEM, "out of memory");
		db->pkgs = q;
		db->cap_pkgs = cap;
	}
	p = &db->pkgs[db->n_pkgs];
	p->name = malloc(nlen + alen + 2);
	p->version = strndup(ver, vlen);
	if (!p->name || !p->version) {
		free(p->name);
		free(p->version);
		return zu_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(p->name, name, nlen);
	p->name[nlen] = 0;
	if (alen) { /* kept as "name:arch" too: multi-arch .list files carry it */
		p->name[nlen] = ':';
		memcpy(p->name + nlen + 1, arch, alen);
		p->name[nlen + 1 + alen] = 0;
	}
	db->n_pkgs++;
	return 0;
}

/* The value of "Key: value" at line start l (len bytes up to the newline), or NULL. */
static const char *xd_field(const char *l, size_t len, const char *key, size_t *vlen)
{
	size_t k = strlen(key);

	if (len <= k || strncmp(l, key, k) != 0)
		return NULL;
	l += k;
	len -= k;
	while (len && *l == ' ') {
		l++;
		len--;
	}
	*vlen = len;
	return l;
}

/* Installed packages of a status file. */
static int xd_status(const char *s, size_t n, struct xd_db *db, struct zu_err *err)
{
	const char *name = NULL, *arch = NULL, *ver = NULL;
	size_t nl = 0, al = 0, vl = 0;
	bool installed = false;
	int r = 0;

	for (size_t at = 0; at <= n && r == 0;) {
		const char *l = s + at, *nlp = memchr(l, '\n', n - at);
		size_t len = nlp ? (size_t)(nlp - l) : n - at;
		const char *v;
		size_t vlen;

		if (len == 0) { /* end of a paragraph */
			if (name && ver && installed)
				r = xd_add_pkg(db, name, nl, arch, arch ? al : 0, ver, vl, err);
			name = arch = ver = NULL;
			installed = false;
		} else if ((v = xd_field(l, len, "Package:", &vlen))) {
			name = v;
			nl = vlen;
		} else if ((v = xd_field(l, len, "Architecture:", &vlen))) {
			arch = v;
			al = vlen;
		} else if ((v = xd_field(l, len, "Version:", &vlen))) {
			ver = v;
			vl = vlen;
		} else if ((v = xd_field(l, len, "Status:", &vlen))) {
			installed = vlen >= 9 && !memcmp(v + vlen - 9, "installed", 9);
		}
		if (!nlp)
			break;
		at += len + 1;
	}
	return r;
}

/* The version of package name ("foo" or "foo:arch"), or NULL. */
static const char *xd_version(const struct xd_db *db, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < db->n_pkgs; i++) {
		const char *p = db->pkgs[i].name;
		size_t pn = strcspn(p, ":");

		if (!strcmp(p, name) || (pn == n && !strncmp(p, name, n)))
			return db->pkgs[i].version;
	}
	return NULL;
}

static void xd_db_fini(struct xd_db *db)
{
	for (size_t i = 0; i < db->n_pkgs; i++) {
		free(db->pkgs[i].name);
		free(db->pkgs[i].version);
	}
	free(db->pkgs);
	memset(db, 0, sizeof(*db));
}

static int xd_db_read(const struct zu_xfs *x, int fd, struct xd_db *db, bool *found,
		      struct zu_err *err)
{
	const struct zu_xfs_file *f = xd_file(x, XD_STATUS);
	char *s = NULL;
	size_t n = 0;
	int r;

	*found = false;
	if (!f)
		return 0;
	r = xd_content(x, fd, f, XD_STATUS_MAX, &s, &n, err);
	if (r == 0 && s) {
		*found = true;
		r = xd_status(s, n, db, err);
	}
	free(s);
	return r;
}

static int xd_add(struct zu_xdpkg_list *l, const char *path, const char *pkg, const char *ver,
		  uint64_t fetch, struct zu_err *err)
{
	struct zu_xdpkg *d;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		void *q = realloc(l->v, cap * sizeof(*l->v));

		if (!q)
			return zu_err_set(err, -ENOMEM, "out of memory");
		l->v = q;
		l->cap = cap;
	}
	d = &l->v[l->n];
	d->path = strdup(path);
	d->package = strdup(pkg);
	d->version = strdup(ver);
	d->fetch_bytes = fetch;
	l->n++;
	if (!d->path || !d->package || !d->version)
		return zu_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* The changed files, sorted by path, so that each .list line is one search. */
struct xd_changed {
	const struct zu_xentry **v;
	size_t n;
};

static int xd_entry_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct zu_xentry *const *)a)->path,
		      (*(const struct zu_xentry *const *)b)->path);
}

static int xd_key_cmp(const void *k, const void *b)
{
	return strcmp(k, (*(const struct zu_xentry *const *)b)->path);
}

static int xd_changed_init(const struct zu_explain_result *res, struct xd_changed *c,
			   struct zu_err *err)
{
	c->n = 0;
	c->v = malloc((res->n_files ? res->n_files : 1) * sizeof(*c->v));
	if (!c->v)
		return zu_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < res->n_files; i++)
		if (res->files[i].cls == ZU_XCLASS_CHANGED)
			c->v[c->n++] = &res->files[i];
	qsort(c->v, c->n, sizeof(*c->v), xd_entry_cmp);
	return 0;
}

/* The changed entry for path[0..plen), or NULL. */
static const struct zu_xentry *xd_changed(const struct xd_changed *c, const char *path,
					  size_t plen)
{
	char key[4096];
	const struct zu_xentry *const *hit;

	if (plen >= sizeof(key) || c->n == 0)
		return NULL;
	memcpy(key, path, plen);
	key[plen] = 0;
	hit = bsearch(key, c->v, c->n, sizeof(*c->v), xd_key_cmp);
	return hit ? *hit : NULL;
}

/* One info/PKG.list of the new image: its changed files, if PKG kept its version. */
static int xd_list(const struct zu_explain_dpkg_params *p, const struct zu_xfs_file *f,
		   const struct xd_db *nd, const struct xd_db *od, const struct xd_changed *ch,
		   struct zu_xdpkg_list *out, struct zu_err *err)
{
	const char *base = f->path + strlen(XD_INFO);
	size_t bl = strlen(base);
	char pkg[256], *s = NULL;
	const char *nv, *ov;
	size_t n = 0;
	int r;

	if (bl <= 5 || bl - 5 >= sizeof(pkg) || strcmp(base + bl - 5, ".list") || strchr(base, '/'))
		return 0;
	memcpy(pkg, base, bl - 5);
	pkg[bl - 5] = 0;
	nv = xd_version(nd, pkg);
	ov = xd_version(od, pkg);
	if (!nv || !ov || strcmp(nv, ov) != 0)
		return 0; /* a new package, or one that was upgraded: changes expected */
	r = xd_content(p->new_xfs, p->new_fd, f, XD_LIST_MAX, &s, &n, err);
	for (size_t at = 0; r == 0 && s && at < n;) {
		const char *l = s + at, *nlp = memchr(l, '\n', n - at);
		size_t len = nlp ? (size_t)(nlp - l) : n - at;
		const struct zu_xentry *e = len ? xd_changed(ch, l, len) : NULL;

		if (e)
			r = xd_add(out, e->path, pkg, nv, e->fetch_bytes, err);
		at += len + 1;
	}
	free(s);
	return r;
}

int zu_explain_dpkg(const struct zu_explain_dpkg_params *p, struct zu_xdpkg_list *out,
		    struct zu_err *err)
{
	struct xd_db nd = { 0 }, od = { 0 };
	struct xd_changed ch = { 0 };
	bool nf = false, of = false;
	int r;

	memset(out, 0, sizeof(*out));
	r = xd_changed_init(p->res, &ch, err);
	if (r == 0)
		r = xd_db_read(p->new_xfs, p->new_fd, &nd, &nf, err);
	if (r == 0)
		r = xd_db_read(p->old_xfs, p->old_fd, &od, &of, err);
	out->found = nf && of;
	for (size_t i = 0; r == 0 && out->found && i < p->new_xfs->n_files; i++) {
		const struct zu_xfs_file *f = &p->new_xfs->files[i];

		if (f->kind == ZU_XFS_FILE && !strncmp(f->path, XD_INFO, strlen(XD_INFO)))
			r = xd_list(p, f, &nd, &od, &ch, out, err);
	}
	free(ch.v);
	xd_db_fini(&nd);
	xd_db_fini(&od);
	return r;
}

void zu_xdpkg_fini(struct zu_xdpkg_list *l)
{
	for (size_t i = 0; l->v && i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].package);
		free(l->v[i].version);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}
