/* SPDX-License-Identifier: MIT */
/*
 * explain_html - zckup explain --html: one page, no network. The figures go
 * in as JSON in a script element; the page's own script draws the map (one
 * SVG cell per map cell of the library: at most explain's cell count, so a
 * 4 GiB image is as light as a small one), the bars and the totals.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_explain.h"

#define HTML_TOP 25

/* A JSON string safe inside <script>: no '<', '>' or '&' left as such. */
static void html_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == '<' || c == '>' || c == '&')
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<title>zckup explain</title>\n<style>\n"
	"body{font:14px/1.4 sans-serif;margin:24px;color:#222;background:#fff}\n"
	"h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}\n"
	"#totals{margin:8px 0;font-size:15px} .num{font-variant-numeric:tabular-nums}\n"
	"#map{border:1px solid #ccc;background:#fafafa}\n"
	".sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;"
	"vertical-align:middle}\n"
	".bars{width:100%;max-width:1100px} .row{display:flex;align-items:center;margin:2px 0}\n"
	".label{width:420px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;"
	"font-family:monospace;font-size:12px}\n"
	".track{flex:1;background:#eee;height:14px;margin:0 8px}\n"
	".bar{background:#c0392b;height:14px} .val{width:150px;text-align:right;font-size:12px}\n"
	"#tip{position:fixed;display:none;background:#333;color:#fff;padding:4px 8px;"
	"font-size:12px;border-radius:3px;pointer-events:none;max-width:600px}\n"
	"</style></head>\n<body>\n"
	"<h1>What an update fetches, and for which files</h1>\n"
	"<div id=\"pair\"></div><div id=\"totals\" class=\"num\"></div>\n"
	"<h2>The image along its offsets</h2>\n"
	"<div class=\"legend\">each cell: <span id=\"cellsize\"></span> of the image;"
	"<span class=\"sw\" style=\"background:#2e9d4a\"></span>reused"
	"<span class=\"sw\" style=\"background:#e69a28\"></span>partly fetched"
	"<span class=\"sw\" style=\"background:#c0392b\"></span>fetched"
	" (hover: the costliest file there)</div>\n"
	"<svg id=\"map\" xmlns=\"http://www.w3.org/2000/svg\"></svg>\n"
	"<h2>Top files by bytes fetched</h2><div id=\"files\" class=\"bars\"></div>\n"
	"<h2>Top directories by bytes fetched</h2><div id=\"dirs\" class=\"bars\"></div>\n"
	"<div id=\"dpkgbox\" style=\"display:none\"><h2>Changed although their package's version"
	" did not (not reproducible?)</h2><div id=\"dpkg\" class=\"bars\"></div></div>\n"
	"<div id=\"tip\"></div>\n"
	"<script id=\"data\" type=\"application/json\">";

/* The page's script: reads #data, draws, then marks the body ready (tests check it). */
static const char html_tail[] =
	"</script>\n<script>\n"
	"window.addEventListener('error',function(e){"
	"document.body.setAttribute('data-error',String(e.message));});\n"
	"(function(){\n"
	"var d=JSON.parse(document.getElementById('data').textContent);\n"
	"function h(n){var u=['B','KiB','MiB','GiB','TiB'],i=0;"
	"while(n>=1024&&i<4){n/=1024;i++;}return (i?n.toFixed(1):n)+' '+u[i];}\n"
	"function hex(n){return '0x'+n.toString(16);}\n"
	"document.getElementById('pair').textContent=d.old+' ('+d.old_fs+') \\u2192 '+d.new+"
	"' ('+d.fs+')';\n"
	"document.getElementById('totals').textContent='fetched '+d.fetch_bytes+' bytes ('+"
	"h(d.fetch_bytes)+'; plan: '+d.plan_fetch_bytes+'), reused '+h(d.reused_bytes)+' of '+"
	"h(d.image_bytes)+(d.fine?', fine pieces':'');\n"
	"var ns='http://www.w3.org/2000/svg',svg=document.getElementById('map');\n"
	"var cols=64,sz=14,rows=Math.max(1,Math.ceil(d.map.length/cols));\n"
	"svg.setAttribute('width',cols*sz);svg.setAttribute('height',rows*sz);\n"
	"if(d.map.length)document.getElementById('cellsize').textContent=h(d.map[0].bytes);\n"
	"var tip=document.getElementById('tip');\n"
	"d.map.forEach(function(c,i){\n"
	" var f=c.bytes?c.fetched_image_bytes/c.bytes:0,r=document.createElementNS(ns,'rect');\n"
	" r.setAttribute('x',(i%cols)*sz);r.setAttribute('y',Math.floor(i/cols)*sz);\n"
	" r.setAttribute('width',sz-1);r.setAttribute('height',sz-1);\n"
	" r.setAttribute('class','cell');\n"
	" r.setAttribute('fill',f===0?'#2e9d4a':f>=0.999?'#c0392b':'#e69a28');\n"
	" var t=hex(c.offset)+'\\u2013'+hex(c.offset+c.bytes)+': '+c.fetch_bytes+' bytes fetched, '+"
	"h(c.reused_bytes)+' reused'+(c.top?'; '+c.top:'');\n"
	" var ti=document.createElementNS(ns,'title');ti.textContent=t;r.appendChild(ti);\n"
	" r.addEventListener('mousemove',function(ev){tip.textContent=t;tip.style.display='block';"
	"tip.style.left=(ev.clientX+12)+'px';tip.style.top=(ev.clientY+12)+'px';});\n"
	" r.addEventListener('mouseleave',function(){tip.style.display='none';});\n"
	" svg.appendChild(r);\n"
	"});\n"
	"function bars(id,list){\n"
	" var box=document.getElementById(id),max=list.length?list[0].fetch_bytes:0,n=0;\n"
	" list.forEach(function(e){if(!e.fetch_bytes)return;\n"
	"  var row=document.createElement('div');row.className='row';\n"
	"  var l=document.createElement('div');l.className='label';l.textContent=e.path;"
	"l.title=e.path+(e['class']?' ('+e['class']+')':'');\n"
	"  var tr=document.createElement('div');tr.className='track';\n"
	"  var b=document.createElement('div');b.className='bar';"
	"b.style.width=(max?100*e.fetch_bytes/max:0)+'%';tr.appendChild(b);\n"
	"  var v=document.createElement('div');v.className='val num';v.textContent=h(e.fetch_bytes)+"
	"(e['class']?' '+e['class']:'');\n"
	"  row.appendChild(l);row.appendChild(tr);row.appendChild(v);box.appendChild(row);n++;});\n"
	" return n;}\n"
	"var nb=bars('files',d.files)+bars('dirs',d.dirs);\n"
	"if(d.dpkg.length){document.getElementById('dpkgbox').style.display='block';"
	"bars('dpkg',d.dpkg.map(function(x){return {path:x.path+' ('+x.package+' '+x.version+')',"
	"fetch_bytes:x.fetch_bytes};}));}\n"
	"document.body.setAttribute('data-cells',String(d.map.length));\n"
	"document.body.setAttribute('data-bars',String(nb));\n"
	"document.body.setAttribute('data-ready','1');\n"
	"})();\n</script>\n</body></html>\n";

static void html_entry(FILE *f, const struct zckup_explain_entry *en, bool dir)
{
	fputs("{\"path\":", f);
	html_json_str(f, en->path);
	fprintf(f, ",\"bytes\":%" PRIu64 ",\"reused_bytes\":%" PRIu64 ",\"fetch_bytes\":%" PRIu64,
		en->bytes, en->reused_bytes, en->fetch_bytes);
	if (!dir)
		fprintf(f, ",\"class\":\"%s\"", zckup_explain_class_name(en->cls));
	fputc('}', f);
}

static void html_data(FILE *f, const zckup_explain *e, const char *old, const char *new)
{
	struct zckup_explain_totals t;

	zckup_explain_get_totals(e, &t);
	fputs("{\"old\":", f);
	html_json_str(f, old);
	fputs(",\"new\":", f);
	html_json_str(f, new);
	fprintf(f, ",\"fs\":\"%s\",\"old_fs\":\"%s\",\"image_bytes\":%" PRIu64
		   ",\"reused_bytes\":%" PRIu64 ",\"fetch_bytes\":%" PRIu64
		   ",\"plan_fetch_bytes\":%" PRIu64 ",\"fine\":%d,\"files\":[",
		t.fs_type, t.old_fs_type, t.image_bytes, t.reused_bytes, t.fetch_bytes,
		t.plan_fetch_bytes, t.fine);
	for (size_t i = 0; i < t.n_files && i < HTML_TOP; i++) {
		struct zckup_explain_entry en;

		if (zckup_explain_get_file(e, i, &en) < 0)
			break;
		fputs(i ? "," : "", f);
		html_entry(f, &en, false);
	}
	fputs("],\"dirs\":[", f);
	for (size_t i = 0; i < t.n_dirs && i < HTML_TOP; i++) {
		struct zckup_explain_entry en;

		if (zckup_explain_get_dir(e, i, &en) < 0)
			break;
		fputs(i ? "," : "", f);
		html_entry(f, &en, true);
	}
	fputs("],\"dpkg\":[", f);
	for (size_t i = 0; i < t.n_dpkg && i < HTML_TOP; i++) {
		struct zckup_explain_dpkg dp;

		if (zckup_explain_get_dpkg(e, i, &dp) < 0)
			break;
		fputs(i ? ",{\"path\":" : "{\"path\":", f);
		html_json_str(f, dp.path);
		fputs(",\"package\":", f);
		html_json_str(f, dp.package);
		fputs(",\"version\":", f);
		html_json_str(f, dp.version);
		fprintf(f, ",\"fetch_bytes\":%" PRIu64 "}", dp.fetch_bytes);
	}
	fputs("],\"map\":[", f);
	for (size_t i = 0; i < t.n_cells; i++) {
		struct zckup_explain_cell c;

		if (zckup_explain_get_cell(e, i, &c) < 0)
			break;
		fprintf(f, "%s{\"offset\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"reused_bytes\":%" PRIu64
			   ",\"fetched_image_bytes\":%" PRIu64 ",\"fetch_bytes\":%" PRIu64 ",\"top\":",
			i ? "," : "", c.image_offset, c.bytes, c.reused_bytes, c.fetched_image_bytes,
			c.fetch_bytes);
		html_json_str(f, c.top_path);
		fputc('}', f);
	}
	fputs("]}", f);
}

int cli_explain_html(const zckup_explain *e, const char *old, const char *new, const char *path)
{
	FILE *f = fopen(path, "w");
	int bad;

	if (!f) {
		fprintf(stderr, "zckup: explain: %s: %s\n", path, strerror(errno));
		return EXIT_IO;
	}
	fputs(html_head, f);
	html_data(f, e, old, new);
	fputs(html_tail, f);
	bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		fprintf(stderr, "zckup: explain: writing %s failed\n", path);
		return EXIT_IO;
	}
	return EXIT_OK;
}
