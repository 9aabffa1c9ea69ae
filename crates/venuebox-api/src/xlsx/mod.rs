//! The `.xlsx` file format of a production's workbook: written by rust_xlsxwriter
//! ([`export`]), read back by calamine ([`import`]). What the cells mean, and what an edited
//! workbook changes, is the store's business (`venuebox_store::workbook`).
pub mod export;
pub mod import;

pub use export::workbook;
