"""Foundation: the Calgary types are in the built binary and the register
window answers from the Rust core."""

import unittest

from machine import (Machine, bus_of, qemu_available, run_qemu,
                     stuff_off)


@unittest.skipUnless(qemu_available(), "build/qemu-system-x86_64 is not built (run ./calgary setup)")
class Foundation(unittest.TestCase):
    def test_machine_help_lists_calgary(self):
        rc, out = run_qemu(["-machine", "help"])
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"(?m)^calgary\s+IBM Calgary")

    def test_stuff_register_read_through_rust(self):
        # PHB debug STUFF: bits 23..16 = first bus of that PHB (spec §2).
        with Machine() as m:
            for phb in range(4):
                v = m.reg_read(0, stuff_off(phb))
                self.assertEqual((v >> 16) & 0xFF, bus_of(0, phb), hex(v))
                # A single-bus PHB reports last = first (2.6.20-2.6.22 walk
                # start..=end and oops on an end byte of 0).
                self.assertEqual((v >> 8) & 0xFF, bus_of(0, phb), "single-bus PHB: last = first")


if __name__ == "__main__":
    unittest.main()
