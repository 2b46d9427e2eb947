/* SPDX-License-Identifier: MIT */
/* Fuzzes what the client unpacks from an agent: wire_unpack_response and the conversions to C types. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "fuzz_common.h"
#include "fuzz_proto.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static ProtobufCMessage *unpack_response(const uint8_t *data, size_t len)
{
	Memscan__V1__Response *resp = wire_unpack_response(data, len, WIRE_UNPACK_BUDGET_CLIENT);

	return resp ? &resp->base : NULL;
}

static void free_response(ProtobufCMessage *m)
{
	wire_free_response((Memscan__V1__Response *)m);
}

/* A region the client accepts is one it can use: non-empty, known kind and permission bits, a path. */
static void check_region(const Memscan__V1__Region *region)
{
	memscan_region r;

	if (wire_region_from_proto(region, &r) != MEMSCAN_OK)
		return;
	FUZZ_CHECK(r.start < r.end);
	FUZZ_CHECK((r.perms & ~0xfu) == 0);
	FUZZ_CHECK(r.path != NULL && strlen(r.path) < 4096);
}

static void check_regions(const Memscan__V1__RegionPage *page)
{
	for (size_t i = 0; page && i < page->n_regions; i++)
		check_region(page->regions[i]);
}

/* A page of a heat's counts: its regions convert as any region does. */
static void check_heat_cells(const Memscan__V1__HeatCellPage *page)
{
	for (size_t i = 0; page && i < page->n_regions; i++)
		if (page->regions[i])
			check_region(page->regions[i]->region);
}

static void check_processes(const Memscan__V1__ProcessPage *page)
{
	memscan_proc_info info;

	for (size_t i = 0; page && i < page->n_processes; i++) {
		memset(&info, 0xA5, sizeof(info));
		wire_proc_from_proto(page->processes[i], &info);
		FUZZ_CHECK(memchr(info.name, '\0', sizeof(info.name)) != NULL);
		FUZZ_CHECK(memchr(info.cmdline, '\0', sizeof(info.cmdline)) != NULL);
	}
}

/* The error code of an Error reply maps to a memscan_err and back. */
static void check_error(const Memscan__V1__Error *e)
{
	int err;

	if (!e)
		return;
	err = wire_err_from_proto(e->code);
	FUZZ_CHECK(err > MEMSCAN_OK && err < MEMSCAN_ERR_COUNT);
	FUZZ_CHECK(wire_err_from_proto(wire_err_to_proto(err)) == err);
}

static void write_seed(const char *dir, const char *name, Memscan__V1__Response *resp)
{
	size_t len = 0;
	uint8_t *buf = wire_pack(&resp->base, &len);

	FUZZ_CHECK(buf != NULL);
	fuzz_write_seed(dir, name, buf, len);
	free(buf);
}

/* Seeds of a remote heatmap: the heat's reply, a sample's totals, a page of its counts. */
static void write_heat_seeds(const char *dir)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HeatReply heat = MEMSCAN__V1__HEAT_REPLY__INIT;
	Memscan__V1__HeatStats stats = MEMSCAN__V1__HEAT_STATS__INIT;
	Memscan__V1__HeatCellPage page = MEMSCAN__V1__HEAT_CELL_PAGE__INIT;
	Memscan__V1__Region region = MEMSCAN__V1__REGION__INIT;
	Memscan__V1__HeatRegion hr = MEMSCAN__V1__HEAT_REGION__INIT, *hr_ptrs[1] = { &hr };
	Memscan__V1__HeatCell cell = MEMSCAN__V1__HEAT_CELL__INIT, *cell_ptrs[1] = { &cell };
	uint32_t bins[2] = { 1, 2 };

	heat.heat_id = 7;
	heat.pid = 4242;
	heat.total_bytes = 1 << 16;
	heat.cell_size = 4096;
	heat.bins = 2;
	heat.max_cells = 1 << 20;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HEAT;
	resp.heat = &heat;
	write_seed(dir, "heat.bin", &resp);

	stats.samples = 3;
	stats.cells = 1;
	stats.regions = 1;
	stats.changed_bytes = 5;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HEAT_SAMPLE;
	resp.heat_sample = &stats;
	write_seed(dir, "heat_sample.bin", &resp);

	region.start = 0x7f0000000000;
	region.end = 0x7f0000010000;
	region.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	region.kind = MEMSCAN_KIND_ANON;
	region.path = "";
	hr.region = &region;
	hr.changes = 3;
	hr.bytes = 5;
	hr.cells = 1;
	cell.address = 0x7f0000001000;
	cell.changes = 3;
	cell.bytes = 5;
	cell.region = 1;
	cell.n_bins = 2;
	cell.bins = bins;
	page.stats = &stats;
	page.cell_size = 4096;
	page.bins = 2;
	page.n_regions = 1;
	page.regions = hr_ptrs;
	page.n_cells = 1;
	page.cells = cell_ptrs;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HEAT_CELLS;
	resp.heat_cells = &page;
	write_seed(dir, "heat_cells.bin", &resp);
}

/* Seeds: an error, a hello reply, a region page, a process page, a read page with a hole, a diff
 * page and a scan page, as an agent packs them; and a remote heatmap's replies. */
/* Seeds of a scan answered with progress: work under way (a cursor to wait on), and the reply
 * without a cursor that the client refuses. */
static void write_progress_seeds(const char *dir)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__Progress pr = MEMSCAN__V1__PROGRESS__INIT;

	pr.done = 3u << 20;
	pr.total = 64u << 20;
	pr.next_cursor = 0x5eed5eed5eed5eedull;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_PROGRESS;
	resp.progress = &pr;
	write_seed(dir, "progress.bin", &resp);
	pr.next_cursor = 0;
	write_seed(dir, "progress_no_cursor.bin", &resp);
}

static void write_seeds(const char *dir)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__Error err = MEMSCAN__V1__ERROR__INIT;
	Memscan__V1__HelloReply hello = MEMSCAN__V1__HELLO_REPLY__INIT;
	Memscan__V1__RegionPage regions = MEMSCAN__V1__REGION_PAGE__INIT;
	Memscan__V1__Region region = MEMSCAN__V1__REGION__INIT, *region_ptrs[2] = { &region, &region };
	Memscan__V1__ProcessPage procs = MEMSCAN__V1__PROCESS_PAGE__INIT;
	Memscan__V1__ProcessInfo proc = MEMSCAN__V1__PROCESS_INFO__INIT, *proc_ptrs[1] = { &proc };
	Memscan__V1__ReadPage rd = MEMSCAN__V1__READ_PAGE__INIT;
	Memscan__V1__Range hole = MEMSCAN__V1__RANGE__INIT, *hole_ptrs[1] = { &hole };
	Memscan__V1__DiffPage diff = MEMSCAN__V1__DIFF_PAGE__INIT;
	Memscan__V1__ChangeRun run = MEMSCAN__V1__CHANGE_RUN__INIT, *run_ptrs[1] = { &run };
	Memscan__V1__ScanPage scan = MEMSCAN__V1__SCAN_PAGE__INIT;
	Memscan__V1__Match match = MEMSCAN__V1__MATCH__INIT, *match_ptrs[1] = { &match };
	Memscan__V1__Encoding encodings[1] = { MEMSCAN__V1__ENCODING__ENCODING_ZSTD };
	static uint8_t bytes[16] = "memscan fuzzing";

	err.code = MEMSCAN__V1__ERROR_CODE__PERMISSION;
	err.message = "target is not yours";
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_ERROR;
	resp.error = &err;
	write_seed(dir, "error.bin", &resp);

	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	hello.agent_version = "0.1.0";
	hello.granted_perms = 7;
	hello.max_page_bytes = WIRE_MAX_PAGE_BYTES;
	hello.n_encodings = 1;
	hello.encodings = encodings;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HELLO;
	resp.hello = &hello;
	write_seed(dir, "hello.bin", &resp);

	region.start = 0x400000;
	region.end = 0x401000;
	region.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_EXEC;
	region.kind = MEMSCAN_KIND_FILE;
	region.path = "/usr/bin/target";
	regions.n_regions = 2;
	regions.regions = region_ptrs;
	regions.next_cursor = 2;
	regions.start_time = 12345;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_REGIONS;
	resp.regions = &regions;
	write_seed(dir, "regions.bin", &resp);

	proc.pid = 4242;
	proc.ppid = 1;
	proc.uid = 1000;
	proc.rss_bytes = 1 << 20;
	proc.name = "target";
	proc.cmdline = "target --serve";
	procs.n_processes = 1;
	procs.processes = proc_ptrs;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_PROCESSES;
	resp.processes = &procs;
	write_seed(dir, "processes.bin", &resp);

	rd.address = 0x400000;
	rd.data.len = sizeof(bytes);
	rd.data.data = bytes;
	hole.start = 0x400004;
	hole.end = 0x400008;
	rd.n_holes = 1;
	rd.holes = hole_ptrs;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_READ;
	resp.read = &rd;
	write_seed(dir, "read.bin", &resp);

	run.address = 0x400010;
	run.old_bytes.len = run.new_bytes.len = 4;
	run.old_bytes.data = bytes;
	run.new_bytes.data = bytes + 4;
	diff.n_runs = 1;
	diff.runs = run_ptrs;
	diff.changed_bytes = 4;
	diff.run_count = 1;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_DIFF;
	resp.diff = &diff;
	write_seed(dir, "diff.bin", &resp);

	match.address = 0x400020;
	match.region_start = 0x400000;
	scan.n_matches = 1;
	scan.matches = match_ptrs;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_SCAN;
	resp.scan = &scan;
	write_seed(dir, "scan.bin", &resp);
	write_heat_seeds(dir);
	write_progress_seeds(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_seed_mode(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtobufCMessage *msg = unpack_response(data, size);
	Memscan__V1__Response *resp = (Memscan__V1__Response *)msg;

	if (!msg)
		return 0;
	switch (resp->result_case) {
	case MEMSCAN__V1__RESPONSE__RESULT_ERROR:
		check_error(resp->error);
		break;
	case MEMSCAN__V1__RESPONSE__RESULT_REGIONS:
		check_regions(resp->regions);
		break;
	case MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT:
		check_regions(resp->snapshot ? resp->snapshot->regions : NULL);
		break;
	case MEMSCAN__V1__RESPONSE__RESULT_PROCESSES:
		check_processes(resp->processes);
		break;
	case MEMSCAN__V1__RESPONSE__RESULT_HEAT_CELLS:
		check_heat_cells(resp->heat_cells);
		break;
	default:
		break;
	}
	fuzz_check_repack(msg, unpack_response, free_response);
	free_response(msg);
	return 0;
}
