// Package flb100 drives the Fuli (福立) FLB-100 opacimeter (不透光烟度计).
//
// The link is RS-232, 8N1, at the baud rate set on the instrument (1200–19200; lane
// software uses 9600). Requests are DID LB CMD [DF] CS with DID = 0x02, LB the length of
// the whole frame and CS the two's complement of the sum of the preceding bytes; replies
// are ACK|NAK LB CMD [DF] CS. The instrument answers only when an action is done, and not
// at all when the address or checksum is wrong.
//
// Read polls the real-time value (command 02): k (m⁻¹), N (%), rpm and oil temperature.
// Zero runs the linearity correction (05). The free-acceleration peaks are held by the
// instrument: StartPeaks selects acceleration mode (08) and arms the trigger (0B); Peaks
// reads the last four peaks (04). Status maps the status bytes (01).
//
// NFromK, KFromN and Rescale hold the opacity relations of domain.md §2.9 for every
// opacimeter driver; PathLength is the FLB-100's effective optical path (0.226 m).
//
// The codec (frame.go) is pure and shared with the simulator in package flb100sim.
// Sources, confidence and traces: firmware-notes/opacity/flb100.md.
package flb100
