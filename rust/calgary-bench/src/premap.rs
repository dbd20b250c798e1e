//! Guest side: pre-map everything (identity TCE table) on the Calgary PHBs
//! that carry devices, and switch translation on — "pre-mapping the whole
//! guest" from The Price of Safety. Run before the drivers load.
//!
//! Uses /dev/mem (boot with `iomem=relaxed` and the reserved region
//! `memmap=64M$0x10000000`, as the test guest does) through
//! `calgary-devmem`, whose `premap` routine does the work.

use calgary_bench::cli::{next, number, text, unexpected};
use calgary_bench::parse_num;
use calgary_core::{layout, PHBS_PER_CHIP};
use calgary_devmem::{premap, Mapping, Window};
use lexopt::{Arg, Parser};

struct Opts {
    bbar: u64,
    mem_base: u64,
    mem_len: u64,
    /// PHBs to enable; None = those with a device behind them.
    phbs: Option<Vec<usize>>,
}

fn parse(mut p: Parser) -> Result<Opts, String> {
    let mut o = Opts {
        bbar: u64::from(layout::RIO_BBARS[0]),
        mem_base: 0x1000_0000,
        mem_len: 0x400_0000,
        phbs: None,
    };
    while let Some(a) = next(&mut p)? {
        match a {
            Arg::Long("bbar") => o.bbar = number(&mut p, "bbar")?,
            Arg::Long("mem") => {
                let s = text(&mut p)?;
                let (b, l) = s.split_once(':').ok_or("--mem ADDR:SIZE")?;
                o.mem_base = parse_num(b).ok_or("bad --mem address")?;
                o.mem_len = parse_num(l).ok_or("bad --mem size")?;
            }
            Arg::Long("phbs") => {
                o.phbs = Some(
                    text(&mut p)?
                        .split(',')
                        .map(|x| match x.trim().parse::<usize>() {
                            Ok(n) if n < 4 => Ok(n),
                            _ => Err(format!("--phbs: bad PHB '{x}' (0..3)")),
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            a => return Err(unexpected(a)),
        }
    }
    Ok(o)
}

/// Buses that have a device besides the PHB function (devfn 0).
fn populated(bus: u32) -> bool {
    std::fs::read_dir("/sys/bus/pci/devices")
        .map(|d| {
            d.filter_map(|e| e.ok()).any(|e| {
                let n = e.file_name().to_string_lossy().to_string();
                n.starts_with(&format!("0000:{bus:02x}:")) && !n.ends_with(":00.0")
            })
        })
        .unwrap_or(false)
}

pub fn run(p: Parser) -> Result<(), String> {
    let o = parse(p)?;
    let iomem = std::fs::read_to_string("/proc/iomem").unwrap_or_default();
    let ram = premap::ram_end(&iomem).unwrap_or(1 << 32);
    let g = premap::geometry_for(ram);
    if g.bytes() as u64 > o.mem_len {
        return Err(format!(
            "identity table of {} entries does not fit in {:#x} bytes",
            g.entries, o.mem_len
        ));
    }
    let tbl = Mapping::phys(o.mem_base, g.bytes())?;
    premap::write_identity_table(&tbl, 0, g.entries);
    let win = Window::open(o.bbar)?;
    let mut done = Vec::new();
    // The chip whose Rio-layout BBAR this is (chip 0 for any other BBAR).
    let chip = layout::RIO_BBARS
        .iter()
        .position(|&b| u64::from(b) == o.bbar)
        .unwrap_or(0);
    for phb in 0..PHBS_PER_CHIP {
        let bus = layout::rio_phb_bus(chip, phb).map_or(0, u32::from);
        let want = match &o.phbs {
            Some(list) => list.contains(&phb),
            None => populated(bus),
        };
        if !want {
            continue;
        }
        let cfg = premap::enable_translation(&win, phb, o.mem_base, g.size_code)?;
        done.push(format!(
            "phb{phb}(bus {bus:#x}, TAR {:#x}, config {cfg:#010x})",
            win.tar(phb)
        ));
    }
    println!(
        "BENCH-PREMAP identity table {} entries at {:#x} (RAM to {ram:#x}); translation on: {}",
        g.entries,
        o.mem_base,
        done.join(" ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = parse(Parser::from_args([
            "--phbs",
            "1,3",
            "--mem",
            "0x2000000:64M",
        ]))
        .expect("parses");
        assert_eq!(o.phbs, Some(vec![1, 3]));
        assert_eq!(
            (o.mem_base, o.mem_len, o.bbar),
            (0x200_0000, 64 << 20, 0xfef0_0000)
        );
        assert!(parse(Parser::from_args(["--phbs", "4"])).is_err());
        assert!(parse(Parser::from_args(["--mem", "0x100"])).is_err());
    }
}
