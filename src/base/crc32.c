/* CRC-32 (ISO 3309 / IEEE 802.3, reflected polynomial 0xEDB88320): the
   checksum of gzip members and PNG chunks. One implementation for both. */
#include "base/base.h"

uint32_t nn_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    uint32_t table[256]; /* per call: no shared mutable state between threads */
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1u ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    return ~crc;
}
