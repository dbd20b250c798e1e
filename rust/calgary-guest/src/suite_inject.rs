//! Fault injection, guest side (`calgary.inject=1`, boot.py --suite inject):
//! a point where the runner arms a TCE fetch failure on the translated
//! e1000's PHB over QMP, then one datagram through that NIC, and the
//! kernel's own watchdog must report the blocked DMA.

use crate::*;

/// After `CALGARY-SYNC inject-fetch` the runner has armed
/// `inject-tce-fetch-fail` on the PHB of the translated e1000. The next
/// DMA of that NIC whose TCE is not cached (a freshly mapped packet) is
/// blocked; Linux's watchdog prints CSR/PLSSR (reason 3, TCE fetch
/// failed) and disables the slot. The NIC is dead afterwards, so this runs
/// last among the network checks.
pub(crate) fn fetch_fail_check(
    r: &mut Report,
    cfg: &Config,
    plat: &Platform,
    devs: &[PciDev],
    chipname: &str,
) {
    let name = "inject-fetch";
    let found = devs.iter().filter(|d| d.is_e1000()).find_map(|d| {
        let p = plat.phb_of(d)?;
        (plat.chip(p).config(p.phb) & TCE_ENABLE != 0).then(|| (p.clone(), netdev_for(d)))
    });
    let Some((phb, Some(ifn))) = found else {
        r.skip(
            name,
            "no e1000 with a network interface on a translated PHB",
        );
        return;
    };
    let res = (|| -> Result<String, String> {
        let server = dhcp_server(&ifn)?;
        info(&format!(
            "inject-fetch phb={} bus={:#04x} via={ifn} server={server}",
            Platform::name(&phb),
            phb.bus
        ));
        sync_point(cfg, "inject-fetch")?;
        let t0 = Instant::now();
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("udp: {e}"))?;
        // Several datagrams: the first may only need an ARP request, which
        // is a DMA too; any of them fetches a fresh TCE.
        for i in 0..4u8 {
            let _ = sock.send_to(&[i; 512], (server.as_str(), 9));
            std::thread::sleep(Duration::from_millis(200));
        }
        let want = format!("DMA error on {chipname} PHB {:#x}", phb.bus);
        let line = wait_for(Duration::from_secs(8), || {
            kmsg_lines().into_iter().find(|l| l.contains(&want))
        })
        .ok_or_else(|| {
            format!(
                "no '{want}' in dmesg within 8 s (CSR={:#010x})",
                plat.chip(&phb).csr(phb.phb)
            )
        })?;
        let conf = plat.chip(&phb).config(phb.phb);
        if conf & SLOT_DISABLE != SLOT_DISABLE {
            return Err(format!(
                "'{line}' but SLOT_DISABLE not set (PHB_CONFIG={conf:#010x})"
            ));
        }
        Ok(format!(
            "{ifn} sent to {server} after the runner armed the fault: '{line}' after {:.1}s, slot disabled (PHB_CONFIG={conf:#010x})",
            t0.elapsed().as_secs_f64()
        ))
    })();
    r.result(name, res);
}
