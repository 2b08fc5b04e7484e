/*
 * names: how the lab names and addresses its zones and instances ("a".."e", "a1", 127.0.Z.N)
 * and how many instances a selection takes. Every other file of the lab uses these, and these
 * use nothing of the lab, so the lab's files depend on each other in one direction only.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lab/lab.h"

#include "base/banned.h"

char lab_zone_name(int idx)
{
    return (char)('a' + idx);
}

int lab_zone_index(const char *zone)
{
    if (!zone || zone[0] < 'a' || zone[0] >= 'a' + LAB_MAX_ZONES || zone[1])
        return -1;
    return zone[0] - 'a';
}

const char *lab_instance_ip(int zone, int slot, char *buf, size_t n)
{
    snprintf(buf, n, "127.0.%u.%u", (unsigned char)(zone + 1), (unsigned char)(slot + 1));
    return buf;
}

int lab_parse_instance_id(const char *id, int *zone, int *slot)
{
    if (!id || id[0] < 'a' || id[0] >= 'a' + LAB_MAX_ZONES)
        return -1;
    char *e;
    if (id[1] < '1' || id[1] > '9')
        return -1;
    long n = strtol(id + 1, &e, 10);
    if (*e || n < 1 || n > LAB_MAX_SLOTS)
        return -1;
    *zone = id[0] - 'a';
    *slot = (int)n - 1;
    return 0;
}

size_t lab_select_count(size_t n, uint32_t count, double percent)
{
    size_t k = n;
    if (count > 0)
        k = count;
    else if (percent > 0) {
        /* round up, at least one; the small epsilon keeps 50% of 4 at 2, not 3 */
        double want = (double)n * percent / 100.0;
        k = (size_t)want;
        if ((double)k + 1e-9 < want)
            k++;
        if (k == 0)
            k = 1;
    }
    return k > n ? n : k;
}

const char *lab_host_ip(int zone, int slot, char *buf, size_t n)
{
    snprintf(buf, n, "10.213.%u.%u", (unsigned)(zone + 1) & 0xffu, (unsigned)(slot + 1) & 0xffu);
    return buf;
}

void lab_host_ns(int zone, int slot, char *buf, size_t n)
{
    snprintf(buf, n, LAB_HOSTS_NS_PREFIX "%c%d", lab_zone_name(zone), slot + 1);
}
