package contract

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// RepairBody is the body of a "repair" record, made by an M-station (repair shop): the
// repair of a vehicle that failed an inspection, and the post-repair test. The link to the
// failing inspection (its serial number, the plate and the VIN) lets the platform close the
// I/M loop: failed → repaired → re-inspected.
type RepairBody struct {
	FailedInspection InspectionRef `json:"failed_inspection"`
	Repair           Repair        `json:"repair"`
	// Test is the post-repair test, exactly as a "test" record would carry it; nil when the
	// repair is recorded without one.
	Test *TestBody `json:"test,omitempty"`
}

// InspectionRef identifies the I-station inspection the vehicle failed.
type InspectionRef struct {
	InspectionID string `json:"inspection_id"` // 检验流水号 of the failed inspection
	Station      string `json:"station,omitempty"`
	Plate        string `json:"plate"`
	PlateType    string `json:"plate_type,omitempty"`
	VIN          string `json:"vin"`
	Date         string `json:"date,omitempty"`   // YYYY-MM-DD of the failed inspection
	Method       string `json:"method,omitempty"` // method it failed
}

// Repair is what the technician did.
type Repair struct {
	Diagnosis  string       `json:"diagnosis"`
	Items      []RepairItem `json:"items"`
	Parts      []RepairPart `json:"parts,omitempty"`
	Technician Technician   `json:"technician"`
	Started    time.Time    `json:"started"`
	Finished   time.Time    `json:"finished"`
	Completed  bool         `json:"completed"` // the technician declares the repair finished
}

// RepairItem is one repair operation.
type RepairItem struct {
	Code        string `json:"code,omitempty"` // the shop's or the platform's operation code
	Description string `json:"description"`
}

// RepairPart is one part replaced or fitted.
type RepairPart struct {
	Name     string  `json:"name"`
	PartNo   string  `json:"part_no,omitempty"`
	Quantity float64 `json:"quantity"`
}

// Technician is who did the repair.
type Technician struct {
	Name        string `json:"name"`
	Certificate string `json:"certificate,omitempty"` // qualification certificate number
}

// Validate checks that a repair record links to its inspection and carries the repair, and
// that the post-repair test was made on the same vehicle.
func (r *RepairBody) Validate() error {
	var errs []error
	f := r.FailedInspection
	if strings.TrimSpace(f.InspectionID) == "" {
		errs = append(errs, errors.New("failed_inspection.inspection_id missing"))
	}
	if strings.TrimSpace(f.Plate) == "" || strings.TrimSpace(f.VIN) == "" {
		errs = append(errs, errors.New("failed_inspection.plate and .vin are required"))
	}
	if strings.TrimSpace(r.Repair.Diagnosis) == "" {
		errs = append(errs, errors.New("repair.diagnosis missing"))
	}
	if len(r.Repair.Items) == 0 {
		errs = append(errs, errors.New("repair.items: at least one repair item"))
	}
	for i, it := range r.Repair.Items {
		if strings.TrimSpace(it.Description) == "" {
			errs = append(errs, fmt.Errorf("repair.items[%d].description missing", i))
		}
	}
	for i, p := range r.Repair.Parts {
		if strings.TrimSpace(p.Name) == "" || p.Quantity <= 0 {
			errs = append(errs, fmt.Errorf("repair.parts[%d]: name and a quantity > 0 are required", i))
		}
	}
	if strings.TrimSpace(r.Repair.Technician.Name) == "" {
		errs = append(errs, errors.New("repair.technician.name missing"))
	}
	if !r.Repair.Finished.IsZero() && r.Repair.Finished.Before(r.Repair.Started) {
		errs = append(errs, errors.New("repair.finished is before repair.started"))
	}
	if t := r.Test; t != nil {
		if !strings.EqualFold(t.Vehicle.VIN, f.VIN) || t.Vehicle.Plate != f.Plate {
			errs = append(errs, fmt.Errorf("the post-repair test is of %s/%s, not the failed vehicle %s/%s", t.Vehicle.Plate, t.Vehicle.VIN, f.Plate, f.VIN))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("contract: invalid repair: %w", errors.Join(errs...))
	}
	return nil
}
