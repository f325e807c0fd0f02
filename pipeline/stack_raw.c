/* stack_raw.c: checks, on the file's raw bytes, of the HDF5 structures that
 * HDF5 1.10 trusts and that, corrupt, make it loop forever or read and copy
 * out of bounds instead of failing: the global heap behind variable-length
 * strings (datasets and attributes), the attribute messages of an object
 * header, and the symbol tables of old-style groups.  Each check runs before
 * the HDF5 call that would follow the structure; a structure it cannot
 * locate (dense attribute storage, version 2 object headers and superblocks,
 * which HDF5 checksums) is left to HDF5.  Found by byte-flip fuzzing of FXI
 * and APS files under AddressSanitizer.  Layouts from the HDF5 File Format
 * Specification version 3.0: III.A.1 "Version 1 B-trees", III.C "Symbol
 * Table Nodes", III.D "Local Heaps", III.E "Global Heap", IV.A.1.a "Version
 * 1 Object Header", IV.A.2.d "Datatype" (variable-length data: 4-byte
 * length, collection address, 4-byte index), IV.A.2.m "Attribute Message"
 * and IV.A.2.q "Object Header Continuation".
 */
#include "stack_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Little-endian unsigned integer of n bytes. */
static unsigned long long le_uint(const unsigned char *p, size_t n)
{
    unsigned long long v = 0;
    for (size_t i = n; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

/* The file under an HDF5 object, opened for raw reading. */
typedef struct {
    FILE *f;
    size_t sa, ss;           /* sizes of offsets and lengths */
    unsigned long long base; /* user block size */
    unsigned long long fsize;
} raw_file;

/* Opens the file holding obj for raw reading; 0 when it cannot. */
static int raw_open(hid_t obj, raw_file *r)
{
    memset(r, 0, sizeof *r);
    r->sa = r->ss = 8;
    hid_t fid = H5Iget_file_id(obj);
    hid_t fcpl = fid >= 0 ? H5Fget_create_plist(fid) : H5I_INVALID_HID;
    hsize_t base = 0;
    char name[1024] = "";
    if (fcpl >= 0 && H5Pget_sizes(fcpl, &r->sa, &r->ss) >= 0 &&
        H5Pget_userblock(fcpl, &base) >= 0 && r->sa <= 8 && r->ss <= 8 &&
        H5Fget_name(fid, name, sizeof name) > 0 && (r->f = fopen(name, "rb")) != NULL) {
        r->base = base;
        fseek(r->f, 0, SEEK_END);
        r->fsize = (unsigned long long)ftell(r->f);
    }
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fid >= 0)
        H5Fclose(fid);
    return r->f != NULL;
}

/* The collection at addr holds object `index` of at least len bytes and adds
 * up.  1 when sound (or too big to walk here), 0 when corrupt. */
static int heap_object_ok(const raw_file *r, unsigned long long len, unsigned long long addr,
                          unsigned long long index)
{
    FILE *f = r->f;
    const unsigned long long base = r->base, fsize = r->fsize;
    const size_t ss = r->ss;
    int ok = 0;
    unsigned char *coll = NULL;
    unsigned char head[24];
    if (len > 65536 || addr > fsize || base + addr + 8 + ss > fsize ||
        fseek(f, (long)(base + addr), SEEK_SET) || fread(head, 1, 8 + ss, f) != 8 + ss ||
        memcmp(head, "GCOL", 4) != 0)
        goto done;
    unsigned long long csize = le_uint(head + 8, ss);
    if (csize < 8 + ss || csize > fsize ||
        base + addr + csize > fsize) /* collection must lie in the file */
        goto done;
    if (csize > ((unsigned long long)64 << 20)) { /* too big to walk here: trust it */
        ok = 1;
        goto done;
    }
    coll = malloc((size_t)csize);
    if (coll == NULL || fseek(f, (long)(base + addr), SEEK_SET) != 0 ||
        fread(coll, 1, (size_t)csize, f) != csize)
        goto done;
    /* Walk every object (index 2, refcount 2, reserved 4, size ss, data
     * padded to 8), as HDF5 will: sizes must stay inside the collection and
     * the free-space object (index 0) must cover exactly the rest; a
     * collection that does not add up sends HDF5 into an endless loop. */
    int found = 0, consistent = 0;
    unsigned long long p = 8 + ss;
    while (p + 8 + ss <= csize) {
        unsigned long long idx = le_uint(coll + p, 2), osize = le_uint(coll + p + 8, ss);
        if (idx == 0) {
            consistent = osize == csize - p;
            break;
        }
        unsigned long long need = 8 + ss + ((osize + 7) / 8) * 8;
        if (osize > csize || p + need > csize)
            break;
        if (idx == index)
            found = osize >= len;
        p += need;
    }
    if (p + 8 + ss > csize)
        consistent = 1; /* no room left for a free-space object */
    ok = found && consistent;
done:
    free(coll);
    return ok;
}

int sh5_vlen_heap_ok(hid_t dset)
{
    haddr_t off = H5Dget_offset(dset);
    raw_file r;
    if (off == HADDR_UNDEF || !raw_open(dset, &r))
        return 1;
    unsigned char desc[24];
    int ok = 0;
    if (fseek(r.f, (long)(r.base + off), SEEK_SET) == 0 &&
        fread(desc, 1, 8 + r.sa, r.f) == 8 + r.sa)
        ok = heap_object_ok(&r, le_uint(desc, 4), le_uint(desc + 4, r.sa),
                            le_uint(desc + 4 + r.sa, 4));
    fclose(r.f);
    return ok;
}

/* The value of an attribute sits in its message inside the object header,
 * which the API does not locate: the header's bytes are searched for the
 * attribute's name, and after it for a reference whose address holds a
 * collection signature. */
int sh5_attr_heap_ok(hid_t attr)
{
    H5O_info_t oi;
    char name[256];
    ssize_t nl = H5Aget_name(attr, sizeof name, name);
    raw_file r;
    if (nl <= 0 || (size_t)nl >= sizeof name ||
        H5Oget_info2(attr, &oi, H5O_INFO_BASIC | H5O_INFO_HDR) < 0 || oi.addr == HADDR_UNDEF ||
        !raw_open(attr, &r))
        return 1;
    int ok = 1;
    size_t want = oi.hdr.space.total + 64 < 65536 ? (size_t)oi.hdr.space.total + 64 : 65536;
    unsigned char *hdr = malloc(want);
    size_t got = 0;
    if (hdr != NULL && fseek(r.f, (long)(r.base + oi.addr), SEEK_SET) == 0)
        got = fread(hdr, 1, want, r.f);
    const size_t ref = 8 + r.sa;
    for (size_t i = 0; i + (size_t)nl + 1 <= got; i++) {
        if (memcmp(hdr + i, name, (size_t)nl + 1) != 0)
            continue;
        /* Name, datatype and dataspace come before the value: within a
         * few hundred bytes. */
        for (size_t j = i + (size_t)nl + 1; j + ref <= got && j < i + 512; j++) {
            unsigned long long len = le_uint(hdr + j, 4), addr = le_uint(hdr + j + 4, r.sa);
            unsigned long long index = le_uint(hdr + j + 4 + r.sa, 4);
            unsigned char sig[4];
            /* The reference is recognised by its address alone; a corrupt
             * length (HDF5 would allocate it: gigabytes) or index 0 (the
             * free space, never a string) is then refused by
             * heap_object_ok. */
            if (addr > r.fsize || r.base + addr + 4 > r.fsize ||
                fseek(r.f, (long)(r.base + addr), SEEK_SET) != 0 || fread(sig, 1, 4, r.f) != 4 ||
                memcmp(sig, "GCOL", 4) != 0)
                continue;
            ok = heap_object_ok(&r, len, addr, index);
            goto done;
        }
    }
done:
    free(hdr);
    fclose(r.f);
    return ok;
}

/* Checks one attribute message (data[size]): the name, datatype and
 * dataspace it declares must fit inside it and the name must end in NUL,
 * else HDF5 decodes past the message. */
static int attr_message_ok(const unsigned char *m, size_t size)
{
    if (size < 8)
        return 0;
    unsigned version = m[0];
    size_t name = (size_t)le_uint(m + 2, 2), dt = (size_t)le_uint(m + 4, 2);
    size_t ds = (size_t)le_uint(m + 6, 2);
    size_t start, need;
    if (version == 1) {
        start = 8;
        need = start + (name + 7) / 8 * 8 + (dt + 7) / 8 * 8 + (ds + 7) / 8 * 8;
    } else if (version == 2 || version == 3) {
        start = version == 3 ? 9 : 8;
        need = start + name + dt + ds;
    } else {
        return 0;
    }
    return name >= 1 && need <= size && m[start + name - 1] == '\0';
}

/* Calls visit(message type, data, size, ctx) for every message of the
 * version 1 object header at addr (first chunk and continuations).  Returns
 * 0 when the header's framing is corrupt or a visit returns 0; 1 otherwise,
 * also for a version 2 header ("OHDR": checksummed, HDF5 refuses
 * corruption). */
static int walk_v1_header(const raw_file *r, unsigned long long addr,
                          int (*visit)(unsigned, const unsigned char *, size_t, void *), void *ctx)
{
    /* Chunks to walk: the first after the 16-byte version 1 prefix, then
     * every continuation found; a few suffice for a dataset header. */
    unsigned long long chunk_addr[8], chunk_size[8];
    size_t n_chunks = 0, done_chunks = 0;
    unsigned char *buf = NULL;
    int ok = 1;
    unsigned char prefix[16];
    if (addr > r->fsize || fseek(r->f, (long)(r->base + addr), SEEK_SET) != 0 ||
        fread(prefix, 1, 16, r->f) != 16 || prefix[0] != 1)
        return 1;
    chunk_addr[0] = addr + 16;
    chunk_size[0] = le_uint(prefix + 8, 4);
    n_chunks = 1;
    while (done_chunks < n_chunks && ok) {
        unsigned long long at = chunk_addr[done_chunks], size = chunk_size[done_chunks];
        done_chunks++;
        if (size > (1u << 20) || at > r->fsize || r->base + at + size > r->fsize) {
            ok = 0;
            break;
        }
        unsigned char *bigger = realloc(buf, size ? (size_t)size : 1);
        if (bigger == NULL)
            break;
        buf = bigger;
        if (fseek(r->f, (long)(r->base + at), SEEK_SET) != 0 ||
            fread(buf, 1, (size_t)size, r->f) != size) {
            ok = 0;
            break;
        }
        /* Messages: type 2, size 2, flags 1, reserved 3, data padded to 8. */
        for (size_t p = 0; p + 8 <= size && ok;) {
            unsigned type = (unsigned)le_uint(buf + p, 2);
            size_t msize = (size_t)le_uint(buf + p + 2, 2);
            if (p + 8 + msize > size) {
                ok = 0;
                break;
            }
            const unsigned char *m = buf + p + 8;
            if (type == 0x0010 && msize >= r->sa + r->ss && n_chunks < 8) {
                chunk_addr[n_chunks] = le_uint(m, r->sa);
                chunk_size[n_chunks] = le_uint(m + r->sa, r->ss);
                n_chunks++;
            }
            ok = visit(type, m, msize, ctx);
            p += 8 + msize;
        }
    }
    free(buf);
    return ok;
}

static int visit_attr(unsigned type, const unsigned char *m, size_t size, void *ctx)
{
    (void)ctx;
    return type != 0x000C || attr_message_ok(m, size);
}

int sh5_attr_messages_ok(hid_t obj)
{
    H5O_info_t oi;
    raw_file r;
    if (H5Oget_info2(obj, &oi, H5O_INFO_BASIC) < 0 || oi.addr == HADDR_UNDEF || !raw_open(obj, &r))
        return 1;
    int ok = walk_v1_header(&r, oi.addr, visit_attr, NULL);
    fclose(r.f);
    return ok;
}

/* ---- group symbol tables (old-style groups, superblock version 0/1) ---- */

typedef struct {
    const raw_file *r;
    size_t budget; /* nodes still to visit: bounds a walk of a cyclic file */
} group_walk;

static int read_at(const raw_file *r, unsigned long long addr, void *buf, size_t n)
{
    return addr <= r->fsize && r->base + addr + n <= r->fsize &&
           fseek(r->f, (long)(r->base + addr), SEEK_SET) == 0 && fread(buf, 1, n, r->f) == n;
}

static int group_ok(group_walk *w, unsigned long long btree, unsigned long long heap, int depth);
static int group_header_ok(group_walk *w, unsigned long long ohdr, int depth);

/* A local heap: signature, and its data segment inside the file. */
static int heap_ok(const raw_file *r, unsigned long long heap)
{
    unsigned char h[8 + 3 * 8];
    if (!read_at(r, heap, h, 8 + 2 * r->ss + r->sa) || memcmp(h, "HEAP", 4) != 0)
        return 0;
    unsigned long long size = le_uint(h + 8, r->ss);
    unsigned long long data = le_uint(h + 8 + 2 * r->ss, r->sa);
    return data <= r->fsize && size <= r->fsize && r->base + data + size <= r->fsize;
}

/* A symbol node: its entries; a group among them (cache type 1 carries its
 * B-tree and heap addresses) is walked in turn. */
static int snod_ok(group_walk *w, unsigned long long addr, int depth)
{
    const raw_file *r = w->r;
    unsigned char h[8];
    if (!read_at(r, addr, h, 8) || memcmp(h, "SNOD", 4) != 0)
        return 0;
    size_t n = (size_t)le_uint(h + 6, 2), esize = 2 * r->sa + 24;
    if (n > 4096)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char e[2 * 8 + 24];
        if (!read_at(r, addr + 8 + i * esize, e, esize))
            return 0;
        /* Cache type 2 is a soft link: no object header of its own. */
        unsigned long long ohdr = le_uint(e + r->sa, r->sa), cache = le_uint(e + 2 * r->sa, 4);
        if (cache != 2 && ohdr >= r->fsize)
            return 0;
        if (cache == 1 && (!group_ok(w, le_uint(e + 2 * r->sa + 8, r->sa),
                                     le_uint(e + 3 * r->sa + 8, r->sa), depth + 1) ||
                           !group_header_ok(w, ohdr, depth + 1)))
            return 0;
    }
    return 1;
}

/* A group's version 1 B-tree (node type 0): every child inside the file,
 * a TREE one level down or a symbol node at level 0.  HDF5 1.10 reads a
 * child at an undefined address (all ones) from memory address 0. */
static int btree_ok(group_walk *w, unsigned long long addr, int depth)
{
    const raw_file *r = w->r;
    unsigned char h[8 + 2 * 8];
    /* Hard links may make the hierarchy cyclic: past the depth or node
     * budget the walk stops, trusting the rest, rather than call it corrupt. */
    if (depth > 32 || w->budget == 0)
        return 1;
    if (!read_at(r, addr, h, 8 + 2 * r->sa) || memcmp(h, "TREE", 4) != 0 || h[4] != 0)
        return 0;
    w->budget--;
    unsigned level = h[5];
    size_t n = (size_t)le_uint(h + 6, 2);
    if (n > 4096)
        return 0;
    /* key0 child0 key1 child1 ... keyN: keys are heap offsets (lengths). */
    for (size_t i = 0; i < n; i++) {
        unsigned char c[8];
        unsigned long long at = addr + 8 + 2 * r->sa + r->ss + i * (r->sa + r->ss);
        if (!read_at(r, at, c, r->sa))
            return 0;
        unsigned long long child = le_uint(c, r->sa);
        if (child >= r->fsize)
            return 0;
        if (level > 0 ? !btree_ok(w, child, depth + 1) : !snod_ok(w, child, depth))
            return 0;
    }
    return 1;
}

static int group_ok(group_walk *w, unsigned long long btree, unsigned long long heap, int depth)
{
    return depth > 32 || (heap_ok(w->r, heap) && btree_ok(w, btree, depth));
}

typedef struct {
    group_walk *w;
    int depth;
} stab_visit;

/* The Symbol Table Message (0x11: B-tree and local heap addresses) is what
 * HDF5 follows; the copy cached in the parent's entry may differ. */
static int visit_stab(unsigned type, const unsigned char *m, size_t size, void *ctx)
{
    stab_visit *v = ctx;
    const raw_file *r = v->w->r;
    if (type != 0x0011)
        return 1;
    return size >= 2 * r->sa &&
           group_ok(v->w, le_uint(m, r->sa), le_uint(m + r->sa, r->sa), v->depth);
}

/* A group's object header at ohdr: its symbol table, if any, is sound. */
static int group_header_ok(group_walk *w, unsigned long long ohdr, int depth)
{
    stab_visit v = {w, depth};
    return depth > 32 || w->budget == 0 || walk_v1_header(w->r, ohdr, visit_stab, &v);
}

int sh5_groups_ok(hid_t file)
{
    raw_file r;
    if (!raw_open(file, &r))
        return 1;
    int ok = 1;
    unsigned char sb[128];
    /* Superblock version 0 or 1: the root group's symbol table entry
     * follows 24 (version 1: 28) bytes and four addresses; its scratch pad
     * holds the root B-tree and local heap.  Later versions use link
     * messages, which HDF5 checksums. */
    if (read_at(&r, 0, sb, 24 + 4 + 4 * r.sa + 2 * r.sa + 8 + 2 * r.sa) &&
        memcmp(sb, "\x89HDF\r\n\x1a\n", 8) == 0 && sb[8] <= 1) {
        size_t e = 24 + (sb[8] == 1 ? 4 : 0) + 4 * r.sa;
        if (le_uint(sb + e + 2 * r.sa, 4) == 1) {
            group_walk w = {&r, 2000};
            ok = group_ok(&w, le_uint(sb + e + 2 * r.sa + 8, r.sa),
                          le_uint(sb + e + 3 * r.sa + 8, r.sa), 0) &&
                 group_header_ok(&w, le_uint(sb + e + r.sa, r.sa), 0);
        }
    }
    fclose(r.f);
    return ok;
}
